"""Bootstrap interval: seeded, reproducible, right in an easy case, and equal to a plain loop."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from seqrec_bench.stats import ConfidenceInterval, bootstrap_ci, bootstrap_cis
from seqrec_bench.stats.bootstrap import BLOCK_VALUES, CHUNK_VALUES, SPARSE_SHARE, resample_chunk


def reference_cis(diffs, *, confidence, n_resamples, seed):
    """The documented scheme written plainly: draw each chunk of resamples, index, average."""
    n = diffs.shape[1]
    rng = np.random.default_rng(seed)
    rows = resample_chunk(n, n_resamples)
    means = []
    for start in range(0, n_resamples, rows):
        idx = rng.integers(0, n, size=(min(rows, n_resamples - start), n))
        means.append(diffs[:, idx].mean(axis=2))  # (series, resamples of this chunk)
    means = np.concatenate(means, axis=1)
    alpha = (1 - confidence) / 2
    return [(float(np.quantile(m, alpha)), float(np.quantile(m, 1 - alpha))) for m in means]


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
    # 3000 resamples of 50 users are one chunk, drawn exactly as scipy draws them (one
    # rng.integers call); the means differ from scipy's only by float rounding.
    assert resample_chunk(50, 3000) == 3000
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
    assert isinstance(ci, ConfidenceInterval)
    assert tuple(ci) == pytest.approx((expected.low, expected.high), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("sparse", [False, True])
def test_vectorised_equals_a_plain_loop_over_chunks(rng, sparse):
    # 3001 users: several draw chunks per count block, several blocks, a short last chunk.
    n, n_resamples = 3001, 1500
    rows = resample_chunk(n, n_resamples)
    assert 1 < rows < n_resamples and n_resamples % rows and BLOCK_VALUES // n > rows
    hit = rng.random(n) < 0.2
    diffs = np.stack(
        [
            rng.normal(0.01, 0.3, size=n),
            rng.integers(-1, 2, size=n).astype(float),  # an HR-like difference
            np.where(rng.random(n) < 0.9, 0.0, rng.random(n)),  # mostly zero
        ]
    )
    if sparse:
        # users that are 0 in every series (both models miss) take the skipping path
        diffs = np.where(hit, diffs, 0.0)
        assert np.any(diffs != 0, axis=0).mean() <= SPARSE_SHARE
    got = bootstrap_cis(diffs, confidence=0.95, n_resamples=n_resamples, seed=7)
    expected = reference_cis(diffs, confidence=0.95, n_resamples=n_resamples, seed=7)
    for ci, (low, high) in zip(got, expected, strict=True):
        assert tuple(ci) == pytest.approx((low, high), rel=1e-12, abs=1e-15)


def test_a_series_does_not_depend_on_its_neighbours(rng):
    diffs = rng.normal(size=(4, 400))
    together = bootstrap_cis(diffs, n_resamples=2000, seed=3)
    for row, ci in zip(diffs, together, strict=True):
        alone = bootstrap_ci(row, n_resamples=2000, seed=3)
        assert tuple(alone) == pytest.approx(tuple(ci), rel=1e-12, abs=1e-15)


def test_constant_series_beside_varying_ones(rng):
    diffs = np.stack([np.full(30, -0.5), rng.normal(size=30), np.zeros(30)])
    cis = bootstrap_cis(diffs, n_resamples=500)
    assert cis[0] == (-0.5, -0.5) and cis[2] == (0.0, 0.0)
    assert cis[1].low < cis[1].high
    assert bootstrap_cis(np.empty((0, 5))) == []


def test_chunks_are_bounded_in_memory():
    # 22,363 users (the size quoted in the issue): 11 resamples, 2 MiB of int64 per draw.
    assert resample_chunk(22363, 10000) == 11
    assert resample_chunk(22363, 10000) * 22363 <= CHUNK_VALUES
    assert resample_chunk(10**7, 10000) == 1  # more users than the budget: one at a time
    assert resample_chunk(5, 10) == 10


def test_wider_at_higher_confidence(rng):
    diff = rng.normal(size=100)
    narrow = bootstrap_ci(diff, confidence=0.8, n_resamples=2000)
    wide = bootstrap_ci(diff, confidence=0.99, n_resamples=2000)
    assert wide.low < narrow.low and narrow.high < wide.high


def test_constant_difference_is_a_point():
    assert bootstrap_ci(np.full(10, 0.25)) == (0.25, 0.25)


@pytest.mark.parametrize(
    ("diff", "kwargs"),
    [
        (np.array([]), {}),
        (np.array([1.0, np.inf]), {}),
        (np.array([1.0, np.nan]), {}),
        (np.ones(3), {"confidence": 1.0}),
        (np.ones(3), {"n_resamples": 0}),
        (np.ones((2, 3)), {}),
    ],
)
def test_bad_input(diff, kwargs):
    with pytest.raises(ValueError):
        bootstrap_ci(diff, **kwargs)


def test_bad_input_of_several_series():
    with pytest.raises(ValueError, match="series, users"):
        bootstrap_cis(np.ones((2, 0)))
    with pytest.raises(ValueError, match="finite"):
        bootstrap_cis(np.array([[1.0, 2.0], [np.nan, 0.0]]))
