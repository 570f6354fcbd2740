"""Multiple-comparison corrections over the p-values of one table column (PROTOCOL §5).

Each function maps a 1-d array of raw p-values to adjusted p-values in the same order, capped
at 1; a comparison is significant at level alpha when its adjusted p-value is below alpha.

Example:
    >>> holm([0.01, 0.04, 0.03, 0.005]).round(4).tolist()
    [0.03, 0.06, 0.06, 0.02]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["holm", "bonferroni", "benjamini_hochberg", "no_correction"]


def _pvalues(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p-values must be a 1-d array, got shape {p.shape}")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p-values must lie in [0, 1] (found NaN or a value outside)")
    return p


def bonferroni(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Bonferroni: ``min(1, m * p)`` for ``m`` comparisons (controls the family-wise error).

    Example:
        >>> bonferroni([0.01, 0.3]).tolist()
        [0.02, 0.6]
    """
    p = _pvalues(pvalues)
    return np.minimum(1.0, p * p.size)


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni step-down adjustment (controls the family-wise error, uniformly more
    powerful than Bonferroni).

    The i-th smallest p-value (1-based) is multiplied by ``m - i + 1``; a running maximum keeps
    the adjusted values in the order of the raw ones, and they are capped at 1.

    Example:
        >>> holm([0.01, 0.04, 0.03, 0.005]).round(4).tolist()
        [0.03, 0.06, 0.06, 0.02]
    """
    p = _pvalues(pvalues)
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, stepped)
    return adjusted


def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg step-up adjustment (controls the false discovery rate).

    The i-th smallest p-value (1-based) becomes ``p * m / i``; a running minimum from the
    largest down keeps them monotone, and they are capped at 1. Same values as
    ``scipy.stats.false_discovery_control(p, method="bh")`` (scipy >= 1.11), written out here so
    that older scipy releases work too.

    Example:
        >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.005]).round(4).tolist()
        [0.02, 0.04, 0.04, 0.02]
    """
    p = _pvalues(pvalues)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, stepped)
    return adjusted


def no_correction(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """The raw p-values, validated (the ``"none"`` correction).

    Example:
        >>> no_correction([0.2, 0.01]).tolist()
        [0.2, 0.01]
    """
    return _pvalues(pvalues).copy()
