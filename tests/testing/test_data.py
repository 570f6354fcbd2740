"""The synthetic data sets of seqrec_bench.testing have the properties the contract relies on."""

from __future__ import annotations

import numpy as np

from seqrec_bench.data import LeaveOneOutSplit
from seqrec_bench.testing import (
    cycle_sequences,
    leak_probe_sequences,
    random_sequences,
    sequence_stats,
)


def test_generators_are_pure_functions_of_their_seed():
    for make in (random_sequences, cycle_sequences, leak_probe_sequences):
        a, b, c = make(seed=1), make(seed=1), make(seed=2)
        assert a.to_lists() == b.to_lists()
        assert a.to_lists() != c.to_lists()


def test_random_sequences_respect_bounds():
    seqs = random_sequences(50, 7, min_length=3, max_length=5, seed=0)
    assert len(seqs) == 50 and seqs.n_items == 7
    assert seqs.lengths.min() >= 3 and seqs.lengths.max() <= 5
    assert seqs.items.min() >= 1 and seqs.items.max() <= 7


def test_cycle_sequences_follow_the_cycle():
    seqs = cycle_sequences(40, 9, seed=4)
    for row in seqs.to_lists():
        assert all(b == a % 9 + 1 for a, b in zip(row, row[1:], strict=False))


def test_leak_probe_test_items_occur_exactly_once_and_cold_items_never():
    n_users, n_common, n_cold = 10, 5, 3
    seqs = leak_probe_sequences(n_users, n_common, n_cold, seed=0)
    assert seqs.n_items == n_common + n_users + n_cold
    test_items = seqs.last(1)
    assert sorted(test_items.tolist()) == list(range(n_common + 1, n_common + n_users + 1))
    counts = seqs.item_counts()
    assert (counts[test_items] == 1).all()
    assert (counts[n_common + n_users + 1 :] == 0).all()
    split = LeaveOneOutSplit.from_sequences(seqs)  # every user is long enough to split
    assert not np.isin(test_items, split.train.items).any()
    assert split.train.lengths.min() >= 1


def test_sequence_stats_has_the_length_median_models_read():
    stats = sequence_stats(random_sequences(5, 4, min_length=3, max_length=3, seed=0))
    assert stats["length"] == {"min": 3, "median": 3.0, "mean": 3.0, "max": 3}
    assert stats["users"] == 5 and stats["items"] == 4 and stats["interactions"] == 15
