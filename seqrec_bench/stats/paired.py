"""Paired significance tests over users (PROTOCOL §5), one function per test.

Every test compares the per-user metric values of two models on the same users, in the same
order, and returns a :class:`TestResult`. The statistics and p-values come from
:mod:`scipy.stats`; this module only validates the input and pins down the degenerate case that
scipy leaves undefined: when the two vectors are identical there is no evidence of a
difference, so every test reports ``pvalue == 1.0`` (scipy would give NaN or raise).

Example:
    >>> import numpy as np
    >>> a = np.array([1.0, 0.0, 1.0, 1.0, 0.5, 1.0])
    >>> b = np.array([0.0, 0.0, 1.0, 0.0, 0.5, 0.0])
    >>> result = paired_t_test(a, b)
    >>> result.name, round(result.pvalue, 4)
    ('paired t-test', 0.0756)
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["TestResult", "paired_t_test", "wilcoxon_test", "permutation_test"]

#: Values of the (resamples x users) arrays scipy builds per batch in resampling methods.
#: Without a batch scipy holds every resample at once (100k users x 10,000 resamples = 1e9
#: values). scipy's paired permutation path peaks at ~75 bytes per value, so this bounds it
#: near 600 MB; its per-batch overhead grows with the number of users, so much smaller batches
#: make it markedly slower.
RESAMPLING_BUDGET = 1 << 23

# scipy >= 1.15 takes `rng`; older releases only `random_state`. Both accept a Generator, and
# passing one makes the two spellings draw the same stream.
_RNG_KEYWORD = (
    "rng" if "rng" in inspect.signature(stats.permutation_test).parameters else "random_state"
)


@dataclass(frozen=True)
class TestResult:
    """Outcome of one paired test.

    Attributes:
        statistic: the test statistic as scipy defines it (t for the t-test, the signed-rank
            statistic for Wilcoxon, the mean of ``a - b`` for the permutation test).
        pvalue: two-sided p-value in ``[0, 1]``.
        name: human-readable test name, e.g. ``"paired t-test"``.
    """

    # Keeps pytest from collecting this class when a test module imports it.
    __test__ = False

    statistic: float
    pvalue: float
    name: str


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"paired tests need two 1-d arrays of the same length, got shapes {a.shape} and {b.shape}"
        )
    if a.size < 2:
        raise ValueError(f"paired tests need at least 2 paired observations, got {a.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired tests need finite values (found NaN or inf)")
    return a, b


def resampling_batch(n_users: int, n_resamples: int) -> int:
    """Resamples per batch so that one batch holds about :data:`RESAMPLING_BUDGET` values.

    The batch size changes only memory use and the order in which random numbers are drawn,
    so it is a pure function of the input size: the same call gives the same numbers.
    """
    return int(max(1, min(n_resamples, RESAMPLING_BUDGET // max(n_users, 1))))


def paired_t_test(a: np.ndarray, b: np.ndarray) -> TestResult:
    """Paired (dependent-samples) t-test of ``mean(a - b) == 0``, via :func:`scipy.stats.ttest_rel`.

    Args:
        a: per-user values of one model.
        b: per-user values of the other model, same users in the same order.

    Returns:
        The t statistic and the two-sided p-value. Identical vectors give ``pvalue=1.0``. When
        every user differs by the same non-zero amount the variance is zero and scipy's answer
        stands: ``t = ±inf``, ``pvalue = 0``.

    Example:
        >>> paired_t_test(np.array([1.0, 1.0, 0.0]), np.array([1.0, 1.0, 0.0])).pvalue
        1.0
    """
    a, b = _paired(a, b)
    diff = a - b
    if not diff.any():
        return TestResult(0.0, 1.0, "paired t-test")
    with warnings.catch_warnings():
        # A constant non-zero difference is a legitimate (extreme) outcome, not a numerical
        # accident; scipy's precision-loss warning would only alarm the reader of the log.
        if np.all(diff == diff[0]):
            warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_rel(a, b)
    return TestResult(float(res.statistic), float(res.pvalue), "paired t-test")


def wilcoxon_test(a: np.ndarray, b: np.ndarray) -> TestResult:
    """Wilcoxon signed-rank test of the paired differences, via :func:`scipy.stats.wilcoxon`.

    scipy's defaults are kept (``zero_method="wilcox"``: users with a zero difference are
    dropped, which for 0/1 metrics such as HR are the users both models hit or both miss;
    ``method="auto"``: exact for small samples, normal approximation otherwise).

    Args:
        a: per-user values of one model.
        b: per-user values of the other model, same users in the same order.

    Returns:
        scipy's signed-rank statistic and the two-sided p-value. When every difference is zero
        nothing is left to rank (scipy raises or returns NaN, depending on its version): the
        result is then ``statistic=0.0, pvalue=1.0``.

    Example:
        >>> wilcoxon_test(np.array([1.0, 0.0]), np.array([1.0, 0.0])).pvalue
        1.0
    """
    a, b = _paired(a, b)
    if not (a - b).any():
        return TestResult(0.0, 1.0, "Wilcoxon signed-rank test")
    res = stats.wilcoxon(a, b)
    return TestResult(float(res.statistic), float(res.pvalue), "Wilcoxon signed-rank test")


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def permutation_test(
    a: np.ndarray, b: np.ndarray, *, n_resamples: int = 10000, seed: int = 0
) -> TestResult:
    """Paired randomization test of the mean difference, via :func:`scipy.stats.permutation_test`.

    Under the null hypothesis the two values of a user are exchangeable, so each resample swaps
    them at random per user (``permutation_type="samples"``) and recomputes ``mean(a - b)``.
    The statistic is vectorised over resamples and processed in batches of bounded memory.

    Users with ``a == b`` are left out of the resampling: swapping two equal values changes
    nothing, so the null distribution of the sum of differences is the same with or without
    them, and the mean over the remaining users is that sum over a constant, which leaves the
    p-value unchanged. It matters for speed: with HR or NDCG most users are hit or missed by
    both models, and scipy's paired resampling costs time per user and resample. When
    ``n_resamples`` reaches the number of distinct swaps (``2**m`` for ``m`` differing users),
    scipy computes the exact null distribution instead.

    Args:
        a: per-user values of one model.
        b: per-user values of the other model, same users in the same order.
        n_resamples: random resamples of the null distribution.
        seed: seed of the resampling generator; the same seed gives the same p-value.

    Returns:
        The observed mean difference ``mean(a - b)`` and the two-sided p-value. Identical
        vectors give ``pvalue=1.0``.

    Example:
        >>> a, b = np.array([1.0, 1.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0, 0.0])
        >>> permutation_test(a, b).pvalue  # exact: 8 of the 16 swaps are as extreme
        0.5
    """
    a, b = _paired(a, b)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    differ = a != b
    if not differ.any():
        return TestResult(0.0, 1.0, "paired permutation test")
    if differ.sum() == 1:
        # One user can only be swapped or not: +d and -d are equally likely, so p = 1 exactly
        # (scipy needs two observations to run).
        return TestResult(float(np.mean(a - b)), 1.0, "paired permutation test")
    a_d, b_d = a[differ], b[differ]
    res = stats.permutation_test(
        (a_d, b_d),
        _mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        batch=resampling_batch(a_d.size, n_resamples),
        alternative="two-sided",
        **{_RNG_KEYWORD: np.random.default_rng(seed)},
    )
    # The statistic reported is over every user, as documented, not over the differing ones.
    return TestResult(float(np.mean(a - b)), float(res.pvalue), "paired permutation test")
