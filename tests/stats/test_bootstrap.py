"""Bootstrap interval: seeded, reproducible, and right in an easy case."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from seqrec_bench.stats import ConfidenceInterval, bootstrap_ci


def test_deterministic_for_a_seed(rng):
    diff = rng.normal(0.1, 1.0, size=200)
    first = bootstrap_ci(diff, n_resamples=2000, seed=5)
    assert bootstrap_ci(diff, n_resamples=2000, seed=5) == first
    assert bootstrap_ci(diff, n_resamples=2000, seed=6) != first


def test_covers_the_true_mean_in_an_easy_case(rng):
    diff = rng.normal(0.3, 0.1, size=500)
    low, high = bootstrap_ci(diff, seed=0)
    assert low < 0.3 < high
    # the normal-theory 95% interval half-width is ~1.96 * 0.1 / sqrt(500) ~= 0.0088
    assert high - low == pytest.approx(2 * 1.96 * diff.std(ddof=1) / np.sqrt(500), rel=0.15)


def test_equals_scipy_percentile_bootstrap(rng):
    diff = rng.normal(size=50)
    expected = stats.bootstrap(
        (diff,),
        np.mean,
        n_resamples=3000,
        method="percentile",
        confidence_level=0.9,
        rng=np.random.default_rng(11),
    ).confidence_interval
    ci = bootstrap_ci(diff, confidence=0.9, n_resamples=3000, seed=11)
    assert ci == ConfidenceInterval(expected.low, expected.high)


def test_wider_at_higher_confidence(rng):
    diff = rng.normal(size=100)
    narrow = bootstrap_ci(diff, confidence=0.8, n_resamples=2000)
    wide = bootstrap_ci(diff, confidence=0.99, n_resamples=2000)
    assert wide.low < narrow.low and narrow.high < wide.high


def test_constant_difference_is_a_point():
    assert bootstrap_ci(np.full(10, 0.25)) == (0.25, 0.25)


@pytest.mark.parametrize(
    ("diff", "kwargs"),
    [(np.array([]), {}), (np.array([1.0, np.inf]), {}), (np.ones(3), {"confidence": 1.0})],
)
def test_bad_input(diff, kwargs):
    with pytest.raises(ValueError):
        bootstrap_ci(diff, **kwargs)
