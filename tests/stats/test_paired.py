"""Paired tests: same numbers as scipy on the same vectors, and p = 1 for identical vectors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from seqrec_bench.stats import (
    TESTS,
    TestResult,
    paired_t_test,
    permutation_test,
    wilcoxon_test,
)


@pytest.fixture
def pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-user NDCG-like values of two models; the first is a little better."""
    b = rng.random(60)
    a = np.clip(b + rng.normal(0.05, 0.2, size=60), 0.0, 1.0)
    return a, b


def test_t_test_equals_scipy(pair):
    a, b = pair
    expected = stats.ttest_rel(a, b)
    result = paired_t_test(a, b)
    assert result == TestResult(float(expected.statistic), float(expected.pvalue), "paired t-test")


def test_wilcoxon_equals_scipy(pair):
    a, b = pair
    expected = stats.wilcoxon(a, b)
    result = wilcoxon_test(a, b)
    assert (result.statistic, result.pvalue) == (expected.statistic, expected.pvalue)
    assert result.name == "Wilcoxon signed-rank test"


def test_wilcoxon_on_binary_metric_drops_ties_like_scipy():
    # HR-like 0/1 values: most differences are zero and scipy drops them.
    a = np.array([1, 1, 0, 1, 0, 1, 1, 0, 1, 1], dtype=float)
    b = np.array([1, 0, 0, 0, 0, 1, 0, 0, 1, 0], dtype=float)
    assert wilcoxon_test(a, b).pvalue == stats.wilcoxon(a, b).pvalue


def test_permutation_equals_scipy_for_the_same_seed(pair):
    a, b = pair
    expected = stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=2000,
        rng=np.random.default_rng(7),
    )
    result = permutation_test(a, b, n_resamples=2000, seed=7)
    assert result.statistic == pytest.approx(float(np.mean(a - b)))
    assert result.pvalue == expected.pvalue
    assert result.name == "paired permutation test"


def _scipy_permutation(a, b, **kwargs):
    return stats.permutation_test(
        (a, b), lambda x, y, axis: np.mean(x - y, axis=axis), permutation_type="samples", **kwargs
    )


def test_permutation_with_tied_users_equals_scipy_exactly():
    # 12 users, 2**12 = 4096 swaps: scipy enumerates them all on the full vectors; we leave
    # out the 6 users with a == b (2**6 swaps) and must get the very same exact p-value.
    a = np.array([1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0.5, 0.2])
    b = np.array([1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0.5, 0.3])
    result = permutation_test(a, b)
    assert result.pvalue == pytest.approx(_scipy_permutation(a, b).pvalue)
    assert result.statistic == pytest.approx(np.mean(a - b))


def test_permutation_with_many_tied_users_matches_scipy(rng):
    # HR-like: most users are hit or missed by both models.
    a = (rng.random(400) < 0.3).astype(float)
    b = np.where(rng.random(400) < 0.8, a, 1.0 - a)
    differ = a != b
    result = permutation_test(a, b, n_resamples=3000, seed=4)
    # same draws as scipy on the users that differ ...
    subset = _scipy_permutation(
        a[differ], b[differ], n_resamples=3000, rng=np.random.default_rng(4)
    )
    assert result.pvalue == subset.pvalue
    # ... and the same distribution as scipy on every user (up to Monte Carlo error)
    full = _scipy_permutation(a, b, n_resamples=3000, rng=np.random.default_rng(4))
    assert result.pvalue == pytest.approx(full.pvalue, abs=0.05)


def test_permutation_with_a_single_differing_user_is_exact():
    a, b = np.array([1.0, 0.0, 0.0]), np.zeros(3)
    assert permutation_test(a, b).pvalue == 1.0 == _scipy_permutation(a, b).pvalue


def test_permutation_is_reproducible_and_seed_dependent(pair):
    a, b = pair
    b = b + 0.02  # a p-value away from 0 so that different seeds can show
    first = permutation_test(a, b, n_resamples=500, seed=1)
    assert permutation_test(a, b, n_resamples=500, seed=1) == first
    assert permutation_test(a, b, n_resamples=500, seed=2).pvalue != first.pvalue


def test_permutation_exact_small_case():
    # Differences (1, 1, 0, 0): of the 16 swaps, 4 give mean +0.5 and 4 give -0.5.
    a, b = np.array([1.0, 1.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0, 0.0])
    assert permutation_test(a, b).pvalue == pytest.approx(0.5)


def test_permutation_in_small_batches_still_matches(monkeypatch, pair):
    # The memory bound must not change the distribution, only how it is drawn.
    import seqrec_bench.stats.paired as paired

    a, b = pair
    full = permutation_test(a, b, n_resamples=4000, seed=3).pvalue
    monkeypatch.setattr(paired, "RESAMPLING_BUDGET", 60 * 100)
    batched = permutation_test(a, b, n_resamples=4000, seed=3).pvalue
    assert batched == pytest.approx(full, abs=0.03)


@pytest.mark.parametrize("name", ["ttest", "wilcoxon", "permutation"])
def test_identical_vectors_give_p_one(name, rng):
    a = rng.random(25)
    result = TESTS[name](a, a.copy())
    assert result.pvalue == 1.0
    assert result.statistic == 0.0


@pytest.mark.parametrize("name", ["ttest", "wilcoxon", "permutation"])
def test_identical_binary_vectors_give_p_one(name):
    a = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    assert TESTS[name](a, a).pvalue == 1.0


def test_t_test_constant_shift_is_scipys_extreme_answer():
    a = np.ones(8)
    result = paired_t_test(a, np.zeros(8))
    assert result.statistic == np.inf
    assert result.pvalue == 0.0


@pytest.mark.parametrize("name", ["ttest", "wilcoxon", "permutation"])
def test_tests_are_symmetric_in_p(name, pair):
    a, b = pair
    assert TESTS[name](a, b).pvalue == pytest.approx(TESTS[name](b, a).pvalue)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.ones(3), np.ones(4), "same length"),
        (np.ones((2, 2)), np.ones((2, 2)), "1-d"),
        (np.ones(1), np.ones(1), "at least 2"),
        (np.array([1.0, np.nan]), np.ones(2), "finite"),
    ],
)
def test_bad_input_is_rejected(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_t_test(a, b)


def test_lookup_errors_list_valid_names():
    with pytest.raises(ValueError, match="unknown test 'z'; valid: ttest, wilcoxon, permutation"):
        TESTS["z"]
    with pytest.raises(KeyError):
        TESTS["z"]
    assert TESTS["TTest"] is paired_t_test
    assert "wilcoxon" in TESTS and "z" not in TESTS
    assert list(TESTS) == ["ttest", "wilcoxon", "permutation"]
    assert TESTS.title("permutation") == "paired permutation test"
