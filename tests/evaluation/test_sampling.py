"""Sampled-protocol negatives (PROTOCOL §3): per-user streams, what each set excludes, bounded."""

import numpy as np
import pytest
from scipy import stats

from seqrec_bench.data import LeaveOneOutSplit, Sequences
from seqrec_bench.errors import ConfigError, SeqbenchError
from seqrec_bench.evaluation import sampling
from seqrec_bench.evaluation.sampling import loo_negatives, sample_negatives, stable_user_keys


def _random_sequences(rng, n_users=300, n_items=60, max_len=20):
    lengths = rng.integers(3, max_len, n_users)
    p = 1.0 / np.arange(1, n_items + 1)
    items = rng.choice(n_items, size=int(lengths.sum()), p=p / p.sum()) + 1
    return Sequences.from_lengths(items, lengths, n_items)


@pytest.mark.parametrize("kind", ["uniform", "pop"])
def test_dropping_a_user_leaves_the_others_negatives_unchanged(kind):
    seqs = _random_sequences(np.random.default_rng(0))
    keys = stable_user_keys(np.array([f"user-{u}" for u in range(seqs.n_users)], dtype=object))
    pop = seqs.item_counts()  # the same popularity for both draws
    common = dict(kind=kind, popularity=pop, seed=5, dataset_key="d", salt="test")
    full = sample_negatives(seqs, 20, user_keys=keys, **common)
    for dropped in (0, 17, seqs.n_users - 1):
        rest = np.delete(np.arange(seqs.n_users), dropped)
        again = sample_negatives(seqs.select(rest), 20, user_keys=keys[rest], **common)
        np.testing.assert_array_equal(again, full[rest])
    # the order of the rows does not matter either
    perm = np.random.default_rng(1).permutation(seqs.n_users)
    np.testing.assert_array_equal(
        sample_negatives(seqs.select(perm), 20, user_keys=keys[perm], **common), full[perm]
    )


def test_without_user_keys_the_row_index_keys_the_stream():
    seqs = _random_sequences(np.random.default_rng(2))
    rows = np.arange(seqs.n_users)
    np.testing.assert_array_equal(
        sample_negatives(seqs, 10, seed=1), sample_negatives(seqs, 10, seed=1, user_keys=rows)
    )
    # the rows before a dropped one keep their negatives
    head = sample_negatives(seqs.select(slice(0, 100)), 10, seed=1)
    np.testing.assert_array_equal(head, sample_negatives(seqs, 10, seed=1)[:100])


@pytest.mark.parametrize("kind", ["uniform", "pop"])
def test_distinct_n_per_user_excluded_never_drawn_deterministic(kind):
    seqs = _random_sequences(np.random.default_rng(3))
    pop = seqs.item_counts()
    negs = sample_negatives(seqs, 30, kind=kind, popularity=pop, seed=7, dataset_key="d")
    assert negs.shape == (seqs.n_users, 30) and negs.dtype == np.int64
    assert negs.min() >= 1 and negs.max() <= seqs.n_items
    for u in range(seqs.n_users):
        assert len(set(negs[u].tolist())) == 30
        assert not set(negs[u].tolist()) & set(seqs[u].tolist())
    again = sample_negatives(seqs, 30, kind=kind, popularity=pop, seed=7, dataset_key="d")
    np.testing.assert_array_equal(negs, again)
    other = sample_negatives(seqs, 30, kind=kind, popularity=pop, seed=8, dataset_key="d")
    assert (negs != other).any(axis=1).mean() > 0.9


def test_validation_negatives_exclude_train_and_validation_target_only():
    rng = np.random.default_rng(4)
    seqs = _random_sequences(rng, n_users=400, n_items=30, max_len=12)
    split = LeaveOneOutSplit.from_sequences(seqs)
    valid, test = loo_negatives(split, 10, kind="uniform", seed=0, dataset_key="d")
    test_targets = split.test_targets()
    test_item_drawn = 0
    for u in range(seqs.n_users):
        train = set(split.train[u].tolist())
        v = set(valid[u].tolist())
        assert not v & train and int(split.valid_targets[u]) not in v
        assert not set(test[u].tolist()) & set(seqs[u].tolist())  # the whole sequence
        if int(test_targets[u]) not in train | {int(split.valid_targets[u])}:
            test_item_drawn += int(test_targets[u]) in v
    assert test_item_drawn > 0  # the test item is not consulted for validation
    # the same as calling sample_negatives with the documented exclusions
    np.testing.assert_array_equal(
        valid, sample_negatives(split.test_inputs, 10, seed=0, dataset_key="d", salt="valid")
    )
    np.testing.assert_array_equal(
        test, sample_negatives(seqs, 10, seed=0, dataset_key="d", salt="test")
    )


def test_validation_negatives_take_the_test_item_when_it_is_the_only_one_left():
    # items 1..4; train [1], valid target 2, test target 3: the validation negatives are {3, 4}
    split = LeaveOneOutSplit.from_sequences(Sequences.from_lists([[1, 2, 3]], n_items=4))
    valid = sample_negatives(split.test_inputs, 2, seed=0, salt="valid")
    assert sorted(valid[0].tolist()) == [3, 4]
    with pytest.raises(ConfigError, match="cannot draw 2 negatives for user row 0: only 1 of"):
        loo_negatives(split, 2, seed=0)  # the test set excludes the whole sequence
    assert loo_negatives(split, 1, seed=0)[1].tolist() == [[4]]


def test_exactly_n_allowed_items_gives_all_of_them():
    seqs = Sequences.from_lists([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]], n_items=12)
    negs = sample_negatives(seqs, 7, seed=0)
    assert sorted(negs[0].tolist()) == [6, 7, 8, 9, 10, 11, 12]
    assert sorted(negs[1].tolist()) == [1, 2, 3, 4, 5, 11, 12]


def test_too_few_unseen_items_is_one_clear_error():
    seqs = Sequences.from_lists([[1, 2], [1, 2, 3, 4]], n_items=5)
    with pytest.raises(SeqbenchError, match=r"^cannot draw 3 negatives for user row 1: only 1 of"):
        sample_negatives(seqs, 3)


def test_pop_with_too_few_positive_items_terminates_positive_first():
    # popularity positive only for items 1..4; user 0 has seen 1 and 2: 2 positive left, 8 wanted
    seqs = Sequences.from_lists([[1, 2], [5, 6]], n_items=12)
    pop = np.zeros(13)
    pop[1:5] = [10, 5, 3, 1]
    negs = sample_negatives(seqs, 8, kind="pop", popularity=pop, seed=0)
    assert sorted(negs[0, :2].tolist()) == [3, 4]  # every positive-popularity item first
    assert set(negs[0, 2:].tolist()) <= set(range(5, 13))
    assert sorted(negs[1, :4].tolist()) == [1, 2, 3, 4]
    assert not set(negs[1].tolist()) & {5, 6}
    for row in negs:
        assert len(set(row.tolist())) == 8
    # no popularity at all: a uniform draw, still bounded
    zero = sample_negatives(seqs, 8, kind="pop", popularity=np.zeros(13), seed=0)
    assert all(len(set(r.tolist())) == 8 for r in zero)


def test_pop_with_one_dominant_item_terminates():
    seqs = Sequences.from_lists([[1]] * 50, n_items=200)
    pop = np.ones(201)
    pop[2] = 1e12  # nearly every draw repeats item 2
    negs = sample_negatives(seqs, 150, kind="pop", popularity=pop, seed=0)
    assert (negs[:, 0] == 2).all()
    assert all(len(set(r.tolist())) == 150 and 1 not in r for r in negs)


def _first_draw_chi2(negs, expected_probs):
    counts = np.bincount(negs[:, 0], minlength=len(expected_probs))
    keep = expected_probs > 0
    assert counts[~keep].sum() == 0
    expected = expected_probs[keep] * counts.sum()
    return stats.chisquare(counts[keep], expected).pvalue


@pytest.mark.parametrize("one_step", [False, True])
def test_popularity_sampling_follows_popularity(one_step, monkeypatch):
    if one_step:  # every user through the one-step completion
        monkeypatch.setattr(sampling, "_MAX_ROUNDS", 0)
    n_items, n_users = 20, 20_000
    seqs = Sequences.from_lists([[1]] * n_users, n_items=n_items)
    pop = np.zeros(n_items + 1)
    pop[1:] = np.arange(n_items, 0, -1) ** 1.5
    negs = sample_negatives(seqs, 5, kind="pop", popularity=pop, seed=0, dataset_key="chi")
    probs = pop.copy()
    probs[:2] = 0  # padding and the user's own item
    assert _first_draw_chi2(negs, probs / probs.sum()) > 1e-3
    # the second draw follows successive sampling: P(b second) = sum_a p_a * p_b / (1 - p_a)
    p = probs / probs.sum()
    second = (p[:, None] * p[None, :] / (1 - p[:, None])).sum(axis=0) - p**2 / (1 - p)
    assert _first_draw_chi2(negs[:, 1:], second / second.sum()) > 1e-3


def test_uniform_sampling_is_uniform():
    seqs = Sequences.from_lists([[1, 2]] * 10_000, n_items=12)
    negs = sample_negatives(seqs, 4, seed=0)
    counts = np.bincount(negs.ravel(), minlength=13)[3:]
    assert stats.chisquare(counts).pvalue > 1e-3
    assert _first_draw_chi2(negs, np.r_[0, 0, 0, np.full(10, 0.1)]) > 1e-3


def test_bad_arguments_are_config_errors():
    seqs = Sequences.from_lists([[1, 2]] * 3, n_items=10)
    with pytest.raises(ConfigError, match="user_keys must be 3 integers"):
        sample_negatives(seqs, 2, user_keys=np.arange(2))
    with pytest.raises(ConfigError, match="distinct"):
        sample_negatives(seqs, 2, user_keys=np.array([4, 4, 5]))
    with pytest.raises(ConfigError, match="popularity must be 11"):
        sample_negatives(seqs, 2, kind="pop", popularity=np.ones(10))
    with pytest.raises(ConfigError, match="needs item popularity"):
        sample_negatives(seqs, 2, kind="pop")
    with pytest.raises(ConfigError, match="unknown negative sampling kind"):
        sample_negatives(seqs, 2, kind="zipf")
    with pytest.raises(ConfigError, match="positive integer"):
        sample_negatives(seqs, 0)


def test_stable_user_keys():
    ids = np.array(["a", "b", "c"], dtype=object)
    keys = stable_user_keys(ids)
    np.testing.assert_array_equal(stable_user_keys(ids[[2, 0]]), keys[[2, 0]])
    assert len(set(keys.tolist())) == 3
    np.testing.assert_array_equal(stable_user_keys(np.array([9, 4])), [9, 4])
