from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec_bench.data import Sequences
from seqrec_bench.training import SequenceBatches, select_positions
from seqrec_bench.training.batches import _select_static


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def seqs() -> Sequences:
    return Sequences.from_lists(
        [[1, 2, 3, 4, 5, 6], [7, 8], [9], [2, 4, 6], [3, 5, 7, 9], [1, 1]], n_items=9
    )


def test_left_padding_keeps_the_most_recent_items(seqs):
    batches = SequenceBatches(seqs, batch_size=10, max_len=4, shuffle=False)
    (batch,) = list(batches(_gen()))
    # user 2 ([9]) is too short for a next-item pair and is left out
    assert batches.users.tolist() == [0, 1, 3, 4, 5]
    assert batch.items.tolist() == [
        [3, 4, 5, 6],
        [0, 0, 7, 8],
        [0, 2, 4, 6],
        [3, 5, 7, 9],
        [0, 0, 1, 1],
    ]
    assert batch.lengths.tolist() == [4, 2, 3, 4, 2] and batch.n_tokens == 15
    assert batch.rows.tolist() == [0, 1, 2, 3, 4] and batch.side == "left"


def test_right_padding_and_batch_width_is_its_own_longest(seqs):
    batches = SequenceBatches(seqs, batch_size=2, max_len=10, side="right", shuffle=False)
    widths = [b.items.shape[1] for b in batches(_gen())]
    assert widths == [6, 4, 2]
    first = next(iter(batches(_gen())))
    assert first.items.tolist() == [[1, 2, 3, 4, 5, 6], [7, 8, 0, 0, 0, 0]]


def test_every_user_once_per_epoch_in_a_seeded_order(rng):
    lengths = rng.integers(2, 30, size=300)
    seqs = Sequences.from_lengths(rng.integers(1, 50, size=lengths.sum()), lengths, 50)
    for bucket in (0, 8):
        batches = SequenceBatches(seqs, batch_size=16, max_len=20, bucket=bucket)
        orders = [np.concatenate(batches.order(_gen(s))) for s in (1, 1, 2)]
        assert sorted(orders[0].tolist()) == list(range(300))
        assert np.array_equal(orders[0], orders[1])  # same generator seed, same order
        assert not np.array_equal(orders[0], orders[2])
        tokens = sum(b.n_tokens for b in batches(_gen(3)))
        assert tokens == batches.n_tokens == int(np.minimum(lengths, 20).sum())


def test_bucketing_cuts_padding(rng):
    lengths = rng.integers(2, 60, size=2000)
    seqs = Sequences.from_lengths(rng.integers(1, 50, size=lengths.sum()), lengths, 50)

    def padded_cells(bucket: int) -> int:
        batches = SequenceBatches(seqs, batch_size=64, max_len=50, bucket=bucket)
        return sum(b.items.numel() for b in batches(_gen()))

    assert padded_cells(16) < 0.7 * padded_cells(0)


def test_bucketed_batches_change_members_from_epoch_to_epoch(rng):
    # one pool holds every user: a plain length sort would give the same batches every epoch
    lengths = rng.integers(2, 60, size=256)
    seqs = Sequences.from_lengths(rng.integers(1, 50, size=lengths.sum()), lengths, 50)
    batches = SequenceBatches(seqs, batch_size=32, max_len=50, bucket=8)

    def members(seed: int) -> set[frozenset[int]]:
        return {frozenset(b.tolist()) for b in batches.order(_gen(seed))}

    assert len(members(1) & members(2)) <= 1
    # and the batches are still of similar lengths: far less padding than random batches
    plain = SequenceBatches(seqs, batch_size=32, max_len=50)
    cells = [sum(b.items.numel() for b in x(_gen(5))) for x in (batches, plain)]
    assert cells[0] < 0.8 * cells[1]


def test_bucketed_batches_weigh_every_target_the_same(rng):
    lengths = rng.integers(2, 60, size=300)
    seqs = Sequences.from_lengths(rng.integers(1, 50, size=lengths.sum()), lengths, 50)
    bucketed = list(SequenceBatches(seqs, batch_size=32, max_len=50, bucket=8)(_gen(0)))
    targets = np.array([b.n_tokens - b.size for b in bucketed], dtype=float)
    weights = np.array([b.weight for b in bucketed])
    # weight_b * mean loss_b = (targets_b / mean targets) * (sum of losses_b / targets_b)
    np.testing.assert_allclose(weights, targets / targets.mean())
    assert weights.max() > 2 * weights.min()  # the buckets do differ
    plain = SequenceBatches(seqs, batch_size=32, max_len=50)
    assert {b.weight for b in plain(_gen(0))} == {1.0}


def test_select_positions_matches_boolean_indexing(rng):
    x = torch.randn(4, 6, 3)
    mask = torch.from_numpy(rng.random((4, 6)) > 0.4)
    expected = x[mask]
    assert torch.equal(select_positions(x, mask), expected)
    # the sync-free path used on accelerators, exercised on the CPU
    assert torch.equal(_select_static(x, mask, int(mask.sum())), expected)
    assert torch.equal(_select_static(x[..., 0], mask, int(mask.sum())), x[..., 0][mask])


def test_invalid_arguments(seqs):
    with pytest.raises(ValueError):
        SequenceBatches(seqs, batch_size=2, max_len=4, side="middle")
    with pytest.raises(ValueError):
        SequenceBatches(seqs, batch_size=0, max_len=4)


@pytest.mark.parametrize("side", ["left", "right"])
def test_host_kept_batches_take_the_copy_path_with_the_same_batches(side):
    # keep_on_device=False is the path of a large data set on an accelerator (a pinned host
    # matrix, one non_blocking copy per batch); on the CPU it runs the same copies
    rng = np.random.default_rng(0)
    seqs = Sequences.from_lists(
        [list(rng.integers(1, 30, size=rng.integers(2, 15))) for _ in range(70)], n_items=30
    )
    kw = {"batch_size": 16, "max_len": 9, "side": side, "bucket": 2}
    kept = SequenceBatches(seqs, keep_on_device=True, **kw)
    moved = SequenceBatches(seqs, keep_on_device=False, **kw)
    assert not moved._on_device
    a = list(kept(torch.Generator().manual_seed(3)))
    b = list(moved(torch.Generator().manual_seed(3)))
    assert len(a) == len(b) > 1
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x.items, y.items) and torch.equal(x.lengths, y.lengths)
        assert torch.equal(x.rows, y.rows) and x.n_tokens == y.n_tokens
