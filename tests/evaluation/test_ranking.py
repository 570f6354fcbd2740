import numpy as np
import pytest
import torch

from seqrec_bench.data import Sequences
from seqrec_bench.evaluation.metrics import UNREACHABLE, hit_rate, mrr, ndcg
from seqrec_bench.evaluation.ranking import (
    NonFiniteScoresError,
    check_finite,
    full_ranks,
    sampled_ranks,
)


def reference_rank(scores, target, seen, exclude_seen=True):
    """Rank by the PROTOCOL definition, written as plainly as possible."""
    if exclude_seen and target in seen:
        return UNREACHABLE  # the candidate set never depends on the target (§3)
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


def test_seen_items_are_excluded_and_a_repeated_target_is_unreachable():
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6]])
    seen = Sequences.from_lists([[1, 2], [1, 4, 2]], n_items=4)
    both = torch.cat([scores, scores])
    # user 0: items 1 and 2 removed, item 3 beats target 4; user 1: target 4 is in the input,
    # so it is removed too: no hit at any cut-off (PROTOCOL §3)
    assert full_ranks(both, torch.tensor([4, 4]), seen).tolist() == [2, UNREACHABLE]
    assert full_ranks(scores, torch.tensor([4]), None).tolist() == [4]
    ranks = np.array([UNREACHABLE])
    assert hit_rate(ranks, 10)[0] == ndcg(ranks, 10)[0] == mrr(ranks)[0] == mrr(ranks, 10)[0] == 0


def test_a_seen_first_scorer_gains_nothing_from_repeat_targets(rng):
    """A model that scores every seen item first must not get free hits on repeat targets."""
    n_items, users = 30, 200
    seqs = [
        list(rng.choice(np.arange(1, n_items + 1), size=5, replace=False)) for _ in range(users)
    ]
    seen = Sequences.from_lists(seqs, n_items=n_items)
    repeat = rng.random(users) < 0.3
    targets = np.array(
        [s[int(rng.integers(0, 5))] if r else int(rng.choice([i for i in range(1, n_items + 1) if i not in s]))
         for s, r in zip(seqs, repeat, strict=True)]
    )  # fmt: skip
    base = torch.from_numpy(rng.random((users, n_items)).astype(np.float32))
    seen_first = base.clone()
    seen_first[torch.from_numpy(seen.user_index()), torch.from_numpy(seen.items - 1)] += 10.0
    t = torch.from_numpy(targets)
    plain, boosted = full_ranks(base, t, seen).numpy(), full_ranks(seen_first, t, seen).numpy()
    np.testing.assert_array_equal(plain, boosted)  # boosting seen items changes nothing
    assert (boosted[repeat] == UNREACHABLE).all() and (boosted[~repeat] < UNREACHABLE).all()


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
