"""Bootstrap confidence intervals of mean paired differences (PROTOCOL §5, effect sizes).

The resampling is vectorised: the user indices of all resamples are drawn in chunks of bounded
memory (:data:`CHUNK_VALUES` indices at a time, 2 MiB), each chunk is turned into per-resample
counts of every user, and one matrix product gives the resampled means of every series at
once. The indices depend only on the seed, the number of users and the number of resamples, so
several series over the same users (every model and metric of one data set against its
reference) share one set of resamples: users are resampled jointly, as pairs should be, and the
interval of one series does not depend on which other series were computed beside it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "BLOCK_VALUES",
    "CHUNK_VALUES",
    "SPARSE_SHARE",
    "ConfidenceInterval",
    "bootstrap_ci",
    "bootstrap_cis",
    "resample_chunk",
    "resampled_means",
]

#: Resample indices drawn per chunk (int64): 2**18 values = 2 MiB, plus as much again for the
#: counts. Small chunks keep the counting in cache; the chunk size is a pure function of the
#: input size, so the same call always draws the same numbers.
CHUNK_VALUES = 1 << 18
#: Resample-user counts (float64) contracted with the values at once: 2**20 = 8 MiB.
BLOCK_VALUES = 1 << 20
#: Users that are 0 in every series are skipped when at most this share of users is not.
SPARSE_SHARE = 0.75


class ConfidenceInterval(NamedTuple):
    """A two-sided confidence interval; unpacks as ``low, high = ci``."""

    low: float
    high: float


def resample_chunk(n_users: int, n_resamples: int) -> int:
    """Resamples drawn per chunk: about :data:`CHUNK_VALUES` indices, at least one resample.

    The scheme, in full: ``rng = np.random.default_rng(seed)``; for each chunk of ``r``
    resamples (the last one shorter), ``rng.integers(0, n_users, size=(r, n_users))``.
    """
    return int(max(1, min(n_resamples, CHUNK_VALUES // max(n_users, 1))))


def _check(confidence: float, n_resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")


def resampled_means(diffs: np.ndarray, *, n_resamples: int = 10000, seed: int = 0) -> np.ndarray:
    """Means of ``n_resamples`` bootstrap resamples of users, for every row of ``diffs``.

    The indices are drawn as :func:`resample_chunk` describes; the counts of about
    :data:`BLOCK_VALUES` resample-user pairs at a time are contracted with the values in one
    product. That product is numpy's own single-threaded loop (``einsum``) rather than BLAS:
    a threaded BLAS on these thin blocks was two to five times slower than one core whenever
    the machine had other work (its threads spin while waiting, against the drawing thread).

    Args:
        diffs: ``(series, users)`` values; every series is resampled with the same indices.
        n_resamples: bootstrap resamples.
        seed: seed of the resampling generator.

    Returns:
        ``(series, n_resamples)`` resampled means.
    """
    d = np.ascontiguousarray(diffs, dtype=np.float64)
    n_series, n = d.shape
    rows = resample_chunk(n, n_resamples)
    rng = np.random.default_rng(seed)
    # Users whose value is 0 in every series add nothing to any sum: for paired differences,
    # the users on whom every model agrees with the reference (e.g. all miss the target), often
    # most of them. When they are many they all share one count column, left out of the
    # product. The draws are the same either way; only exact zero terms are skipped.
    used = np.flatnonzero(np.any(d != 0.0, axis=0))
    column: np.ndarray | None = None
    values = d
    if used.size <= SPARSE_SHARE * n:
        column = np.full(n, used.size, dtype=np.int64)
        column[used] = np.arange(used.size)
        values = np.ascontiguousarray(d[:, used])
    width = n if column is None else used.size + 1
    block_rows = min(n_resamples, max(rows, BLOCK_VALUES // width // rows * rows))
    out = np.empty((n_resamples, n_series))
    offsets = (np.arange(rows, dtype=np.int64) * width)[:, None]
    block = np.empty((block_rows, width))
    for start in range(0, n_resamples, block_rows):
        size = min(block_rows, n_resamples - start)
        for sub in range(0, size, rows):
            r = min(rows, size - sub)
            idx = rng.integers(0, n, size=(r, n))
            if column is not None:
                idx = column[idx]
            # Row j's columns are shifted into their own block, so one bincount counts how
            # often each user appears in each of the r resamples.
            idx += offsets[:r]
            counts = np.bincount(idx.ravel(), minlength=r * width)
            block[sub : sub + r] = counts.reshape(r, width)
        out[start : start + size] = np.einsum("rn,sn->rs", block[:size, : values.shape[1]], values)
    out /= n
    return np.ascontiguousarray(out.T)


def bootstrap_cis(
    diffs: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 10000, seed: int = 0
) -> list[ConfidenceInterval]:
    """Percentile bootstrap intervals of the means of several series over the same users.

    Users are resampled with replacement (the same resamples for every series, see the module
    note) and each interval is read off the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` quantiles (linear interpolation) of the resampled means.

    Args:
        diffs: ``(series, users)`` per-user values, e.g. one row ``ndcg_model -
            ndcg_reference`` per model and metric; a 1-d array is one series.
        confidence: coverage of the intervals, in (0, 1).
        n_resamples: bootstrap resamples.
        seed: seed of the resampling generator; the same seed gives the same intervals.

    Returns:
        One interval per series, in order. A constant series gives the degenerate interval
        ``(c, c)`` exactly.

    Example:
        >>> diffs = np.array([[0.1, 0.2, 0.3, 0.2], [0.0, 0.0, 1.0, 0.0]])
        >>> [bool(low <= mean <= high) for (low, high), mean in
        ...  zip(bootstrap_cis(diffs, seed=0), diffs.mean(axis=1))]
        [True, True]
    """
    d = np.asarray(diffs, dtype=np.float64)
    if d.ndim == 1:
        d = d[None, :]
    if d.ndim != 2 or d.shape[1] == 0:
        raise ValueError(
            f"bootstrap_cis needs (series, users) values with users > 0, got shape {d.shape}"
        )
    if not np.isfinite(d).all():
        raise ValueError("bootstrap intervals need finite values (found NaN or inf)")
    _check(confidence, n_resamples)
    if d.shape[0] == 0:
        return []
    constant = np.all(d == d[:, :1], axis=1)
    varying = d[~constant]
    alpha = (1.0 - confidence) / 2.0
    bounds = iter(())
    if varying.size:
        means = resampled_means(varying, n_resamples=n_resamples, seed=seed)
        bounds = iter(np.quantile(means, [alpha, 1.0 - alpha], axis=1).T)
    out = []
    for row, fixed in zip(d, constant, strict=True):
        # Every resample of a constant series has the same mean; no quantile rounding.
        low, high = (row[0], row[0]) if fixed else next(bounds)
        out.append(ConfidenceInterval(float(low), float(high)))
    return out


def bootstrap_ci(
    diff: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 10000, seed: int = 0
) -> ConfidenceInterval:
    """Percentile bootstrap interval of the mean of per-user paired differences.

    One series of :func:`bootstrap_cis`: users are resampled with replacement, vectorised over
    resamples in chunks of bounded memory, and the interval is read off the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the resampled means.

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
    return bootstrap_cis(d[None, :], confidence=confidence, n_resamples=n_resamples, seed=seed)[0]
