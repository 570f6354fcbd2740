import numpy as np
import pytest

from seqrec_bench.data import LeaveOneOutSplit, Sequences


def test_padding_and_views(tiny_sequences):
    s = tiny_sequences
    assert s.lengths.tolist() == [5, 5, 3, 6, 5]
    left = s.padded(4)
    assert left.shape == (5, 4)
    assert left[2].tolist() == [0, 1, 3, 5]
    assert left[3].tolist() == [4, 3, 2, 1]
    right = s.padded(4, side="right")
    assert right[2].tolist() == [1, 3, 5, 0]
    # the matrix is only as wide as the longest sequence in the batch
    assert s.select([2]).padded(50).shape == (1, 3)


def test_select_truncate_append_roundtrip(tiny_sequences):
    s = tiny_sequences
    assert s.select([3, 0]).to_lists() == [s[3].tolist(), s[0].tolist()]
    assert s.select(slice(1, 3)).to_lists() == [s[1].tolist(), s[2].tolist()]
    t = s.truncate(1)
    assert t.append(s.last(1)).to_lists() == s.to_lists()
    assert s.tail(2).to_lists() == [x[-2:] for x in s.to_lists()]


def test_item_counts(tiny_sequences):
    counts = tiny_sequences.item_counts()
    flat = [i for seq in tiny_sequences.to_lists() for i in seq]
    assert counts[0] == 0
    assert all(counts[i] == flat.count(i) for i in range(1, 7))


def test_offsets_validated():
    with pytest.raises(ValueError):
        Sequences(items=np.arange(3), offsets=np.array([0, 2]), n_items=3)


def test_split_follows_protocol(tiny_sequences):
    split = LeaveOneOutSplit.from_sequences(tiny_sequences)
    for u, seq in enumerate(tiny_sequences.to_lists()):
        assert split.train[u].tolist() == seq[:-2]
        assert split.valid_targets[u] == seq[-2]
        assert split.valid_inputs[u].tolist() == seq[:-2]
        assert split.test_inputs[u].tolist() == seq[:-1]
        assert split.test_targets()[u] == seq[-1]


def test_test_target_never_in_training_data():
    # the last item of every user is unique to that position: it must not reach train
    seqs = [[1, 2, 3, 10 + u] for u in range(5)]
    split = LeaveOneOutSplit.from_sequences(Sequences.from_lists(seqs, n_items=20))
    assert not set(split.train.items.tolist()) & set(range(10, 15))
    assert not set(split.valid_targets.tolist()) & set(range(10, 15))
    assert not set(split.valid_inputs.items.tolist()) & set(range(10, 15))


def test_split_rejects_short_users():
    with pytest.raises(ValueError, match=">= 3"):
        LeaveOneOutSplit.from_sequences(Sequences.from_lists([[1, 2, 3], [1, 2]], n_items=3))
