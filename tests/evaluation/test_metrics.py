import math

import numpy as np
import pytest

from seqrec_bench.evaluation.metrics import hit_rate, metric_labels, mrr, ndcg, parse_metric


def reference_metrics(rank: int, k: int) -> tuple[float, float, float]:
    """Independent scalar reference: one relevant item at 1-based position ``rank``."""
    hit = 1.0 if rank <= k else 0.0
    # DCG of a single relevant item at position r, ideal DCG = 1
    dcg = sum((1.0 if pos == rank else 0.0) / math.log(pos + 1, 2) for pos in range(1, k + 1))
    rr = 1.0 / rank if rank <= k else 0.0
    return hit, dcg, rr


@pytest.mark.parametrize("k", [1, 5, 10, 20])
def test_metrics_match_reference(k, rng):
    ranks = rng.integers(1, 60, size=200)
    expected = np.array([reference_metrics(int(r), k) for r in ranks])
    np.testing.assert_allclose(hit_rate(ranks, k), expected[:, 0])
    np.testing.assert_allclose(ndcg(ranks, k), expected[:, 1])
    np.testing.assert_allclose(mrr(ranks, k), expected[:, 2])


def test_rank_one_is_perfect():
    assert hit_rate(np.array([1]), 1)[0] == 1.0
    assert ndcg(np.array([1]), 1)[0] == 1.0
    assert mrr(np.array([1]))[0] == 1.0


def test_monotone_in_k_and_bounded(rng):
    ranks = rng.integers(1, 100, size=500)
    prev_hr = prev_ndcg = 0.0
    for k in range(1, 100):
        hr, nd = hit_rate(ranks, k).mean(), ndcg(ranks, k).mean()
        assert prev_hr <= hr <= 1.0 and prev_ndcg <= nd <= 1.0
        assert nd <= hr  # NDCG discounts every hit by <= 1
        prev_hr, prev_ndcg = hr, nd


def test_mrr_without_cutoff():
    np.testing.assert_allclose(mrr(np.array([1, 2, 4])), [1.0, 0.5, 0.25])


def test_invalid_ranks_rejected():
    with pytest.raises(ValueError):
        hit_rate(np.array([0, 1]), 5)


@pytest.mark.parametrize(
    "label,expected",
    [
        ("HR@10", "HR@10"),
        ("ndcg@5", "NDCG@5"),
        ("Recall@20", "HR@20"),
        ("MRR", "MRR"),
        ("mrr@10", "MRR@10"),
    ],
)
def test_parse_metric(label, expected):
    assert parse_metric(label).label == expected


@pytest.mark.parametrize("label", ["AUC@10", "HR", "NDCG@0", "HR@x", ""])
def test_parse_metric_rejects(label):
    with pytest.raises(ValueError):
        parse_metric(label)


def test_metric_labels_order():
    assert metric_labels([10, 5]) == ["HR@10", "HR@5", "NDCG@10", "NDCG@5"]
