import numpy as np
import pytest
import torch

from seqrec_bench.data import Sequences
from seqrec_bench.evaluation.ranking import (
    NonFiniteScoresError,
    check_finite,
    full_ranks,
    sampled_ranks,
)


def reference_rank(scores, target, seen, exclude_seen=True):
    """Rank by the PROTOCOL definition, written as plainly as possible."""
    t = scores[target - 1]
    rank = 1
    for item in range(1, len(scores) + 1):
        if item == target:
            continue
        if exclude_seen and item in seen:
            continue
        if scores[item - 1] >= t:
            rank += 1
    return rank


def test_constant_scores_rank_target_last():
    scores = torch.zeros(1, 10)
    ranks = full_ranks(scores, torch.tensor([3]), None)
    assert ranks.tolist() == [10]


def test_ties_count_against_the_model():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.1]])
    # target item 1 (score .5) ties item 3 and loses to item 2 -> rank 3
    assert full_ranks(scores, torch.tensor([1]), None).tolist() == [3]


def test_seen_items_are_excluded_but_target_stays():
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6]])
    seen = Sequences.from_lists([[1, 4, 2]], n_items=4)
    # target 4 is in the input (a repeat) yet stays; items 1 and 2 are removed; item 3 beats it
    assert full_ranks(scores, torch.tensor([4]), seen).tolist() == [2]
    assert full_ranks(scores, torch.tensor([4]), None).tolist() == [4]


def test_full_ranks_match_reference(rng):
    n_items, users = 25, 40
    # coarse scores so that ties are frequent
    scores = rng.integers(0, 5, size=(users, n_items)).astype(np.float32)
    seqs = [list(rng.integers(1, n_items + 1, size=rng.integers(1, 8))) for _ in range(users)]
    seen = Sequences.from_lists(seqs, n_items=n_items)
    targets = rng.integers(1, n_items + 1, size=users)
    got = full_ranks(torch.from_numpy(scores), torch.from_numpy(targets), seen).numpy()
    want = [reference_rank(scores[u], targets[u], set(seqs[u])) for u in range(users)]
    np.testing.assert_array_equal(got, want)
    got_all = full_ranks(torch.from_numpy(scores), torch.from_numpy(targets), None).numpy()
    want_all = [reference_rank(scores[u], targets[u], set(), False) for u in range(users)]
    np.testing.assert_array_equal(got_all, want_all)


def test_minus_inf_is_allowed_and_ranked_last():
    scores = torch.tensor([[float("-inf"), 1.0, 2.0]])
    assert full_ranks(scores, torch.tensor([1]), None).tolist() == [3]
    check_finite(scores)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_scores_raise(bad):
    scores = torch.ones(3, 4)
    scores[2, 1] = bad
    with pytest.raises(NonFiniteScoresError, match="user row 7"):
        check_finite(scores, rows=np.array([5, 6, 7]))


def test_sampled_ranks_pessimistic():
    scores = torch.tensor([[0.1, 0.5, 0.5, 0.9, 0.2]])
    negatives = torch.tensor([[3, 4, 5]])  # item 3 ties, item 4 beats, item 5 loses
    assert sampled_ranks(scores, torch.tensor([2]), negatives).tolist() == [3]
