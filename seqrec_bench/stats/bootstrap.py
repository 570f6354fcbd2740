"""Bootstrap confidence interval of the mean paired difference (PROTOCOL §5, effect sizes)."""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np
from scipy import stats

from seqrec_bench.stats.paired import resampling_batch

__all__ = ["ConfidenceInterval", "bootstrap_ci"]

# See paired.py: scipy >= 1.15 spells it `rng`, older releases `random_state`.
_RNG_KEYWORD = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"


class ConfidenceInterval(NamedTuple):
    """A two-sided confidence interval; unpacks as ``low, high = ci``."""

    low: float
    high: float


def bootstrap_ci(
    diff: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 10000, seed: int = 0
) -> ConfidenceInterval:
    """Percentile bootstrap interval of the mean of per-user paired differences.

    Users are resampled with replacement; the mean is vectorised over resamples (through
    :func:`scipy.stats.bootstrap`, in batches of bounded memory) and the interval is read off
    the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles.

    Args:
        diff: per-user differences, e.g. ``ndcg_model - ndcg_reference``.
        confidence: coverage of the interval, in (0, 1).
        n_resamples: bootstrap resamples.
        seed: seed of the resampling generator; the same seed gives the same interval.

    Returns:
        The interval ``(low, high)``. A constant ``diff`` gives the degenerate interval
        ``(c, c)``.

    Example:
        >>> low, high = bootstrap_ci(np.array([0.1, 0.2, 0.3, 0.2, 0.1, 0.3]), seed=0)
        >>> bool(low <= 0.2 <= high)
        True
    """
    d = np.asarray(diff, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise ValueError(f"bootstrap_ci needs a non-empty 1-d array, got shape {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError("bootstrap_ci needs finite values (found NaN or inf)")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if np.all(d == d[0]):
        # Every resample has the same mean; scipy would warn about a degenerate distribution.
        return ConfidenceInterval(float(d[0]), float(d[0]))
    res = stats.bootstrap(
        (d,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        batch=resampling_batch(d.size, n_resamples),
        vectorized=True,
        method="percentile",
        **{_RNG_KEYWORD: np.random.default_rng(seed)},
    )
    return ConfidenceInterval(
        float(res.confidence_interval.low), float(res.confidence_interval.high)
    )
