"""Mini-batches of padded item sequences, built straight from the flat arrays.

No per-user Python objects: :class:`SequenceBatches` pads every user's most recent items once
into one int64 matrix (kept on the training device when it fits), and an epoch is a permutation
of its rows. Each batch is cut to its own longest sequence, so data sets of short sequences do
not pay for the longest user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from seqrec_bench.data.sequences import Sequences

__all__ = [
    "SequenceBatch",
    "SequenceBatches",
    "BatchFactory",
    "select_positions",
    "grouped_positions",
]

#: Largest padded matrix (bytes) kept on an accelerator for the whole run; larger data stays in
#: pinned host memory and moves one batch at a time.
_DEVICE_DATA_BUDGET = 1 << 30
#: How far apart (as a ratio) two users' lengths may be and still swap places in a bucketed
#: epoch's length order (see ``SequenceBatches(bucket=...)``).
BUCKET_JITTER = 1.5


@dataclass(frozen=True)
class SequenceBatch:
    """One mini-batch.

    Attributes:
        items: ``(B, W)`` int64 item ids on the training device, 0-padded; ``W`` is the longest
            sequence of this batch. Left padding puts every user's most recent item in the last
            column; right padding puts every user's first kept item in column 0.
        lengths: ``(B,)`` int64 number of real (non-padding) items per row, on the device.
        rows: ``(B,)`` int64 row of each user in the ``Sequences`` the batches were built from
            (after ``min_length`` filtering: row ``i`` of :attr:`SequenceBatches.users`), on the
            device.
        n_tokens: total number of real items in the batch, known on the host without a device
            synchronisation (use it with :func:`select_positions`).
        side: ``"left"`` or ``"right"`` padding.
        host_lengths: the rows' lengths on the host (for :meth:`length_groups`), if known.
        weight: what to multiply the batch's mean loss by so that every next-item target of
            an epoch counts the same: 1 for randomly composed batches; with length buckets the
            batch's share of the epoch's targets times the number of batches (a batch of 128
            short users holds a tenth of the targets of one of 128 long users, and its mean
            loss would otherwise weigh as much). A host float: no device synchronisation.
    """

    items: torch.Tensor
    lengths: torch.Tensor
    rows: torch.Tensor
    n_tokens: int
    side: str
    weight: float = 1.0
    host_lengths: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of sequences in the batch."""
        return int(self.items.shape[0])

    def length_groups(self, n: int, min_rows: int = 16) -> list[SequenceBatch]:
        """The batch as up to ``n`` consecutive row groups, each only as wide as its longest row.

        :class:`SequenceBatches` (shuffling) puts a batch's rows in order of length, so the groups are of
        similar lengths: a model that runs its network on each group and computes one loss over
        all their positions computes the same function of the same batch (rounded differently)
        with much less padding. At ML-100K's lengths and 4 groups of a random batch of 128,
        54% of the padded positions and 41% of the attention work remain. Groups have at least
        ``min_rows`` rows; without host lengths the batch is one group.
        """
        n = min(int(n), self.size // max(1, int(min_rows)))
        if n <= 1 or self.host_lengths is None:
            return [self]
        bounds = np.linspace(0, self.size, n + 1).astype(int)
        full = int(self.items.shape[1])
        out = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            lengths = self.host_lengths[lo:hi]
            width = min(full, max(int(lengths.max()), 1))
            items = (
                self.items[lo:hi, full - width :]
                if self.side == "left"
                else self.items[lo:hi, :width]
            )
            out.append(
                SequenceBatch(
                    items=items,
                    lengths=self.lengths[lo:hi],
                    rows=self.rows[lo:hi],
                    n_tokens=int(lengths.sum()),
                    side=self.side,
                    weight=self.weight,
                    host_lengths=lengths,
                )
            )
        return out


@runtime_checkable
class BatchFactory(Protocol):
    """What :func:`~seqrec_bench.training.train` iterates: one fresh iterator per epoch.

    Any callable taking the run's shuffling :class:`torch.Generator` and returning an iterable
    of batches works; ``__len__`` (batches per epoch) is optional and only feeds the progress
    bar. :class:`SequenceBatches` is the built-in implementation.
    """

    def __call__(self, generator: torch.Generator) -> Iterator: ...


class SequenceBatches:
    """Shuffled mini-batches of every user's most recent ``max_len`` items.

    Args:
        sequences: training sequences (flat).
        batch_size: users per batch.
        max_len: keep each user's last ``max_len`` items (a next-item model that predicts at
            every position passes its context length + 1: inputs are all but the last item,
            targets all but the first).
        side: ``"left"`` padding (most recent item in the last column; what causal attention
            reads) or ``"right"`` (what a recurrent network reads, since trailing padding never
            reaches an earlier step).
        min_length: users with fewer items are left out (a next-item loss needs 2).
        device: where batches are produced.
        shuffle: draw a new order every epoch from the generator (``False``: file order).
        bucket: when > 1, sort users by length inside pools of ``bucket * batch_size`` shuffled
            users before cutting batches, then shuffle the batch order. Batches of similar
            lengths waste less compute on padding; the pools keep the order random, and the
            sort key is the length times a random factor in ``[1, BUCKET_JITTER)`` drawn every
            epoch, so that users of similar lengths do not share a batch every epoch.
        keep_on_device: keep the padded matrix on ``device`` for the whole run (``None``: when it
            is smaller than 1 GiB, or always on the CPU).
        width_multiple: round every batch's width up to a multiple of this (at most the full
            ``max_len``), so that a compiled training step sees a few shapes only.

    Example:
        >>> seqs = Sequences.from_lists([[1, 2, 3], [2, 4], [5]], n_items=5)
        >>> batches = SequenceBatches(seqs, batch_size=2, max_len=3, shuffle=False)
        >>> [b.items.tolist() for b in batches(torch.Generator().manual_seed(0))]
        [[[1, 2, 3], [0, 2, 4]]]
    """

    def __init__(
        self,
        sequences: Sequences,
        *,
        batch_size: int,
        max_len: int,
        side: str = "left",
        min_length: int = 2,
        device: str | torch.device = "cpu",
        shuffle: bool = True,
        bucket: int = 0,
        keep_on_device: bool | None = None,
        width_multiple: int = 1,
    ) -> None:
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', not {side!r}")
        if batch_size < 1 or max_len < 1:
            raise ValueError("batch_size and max_len must be >= 1")
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.side = side
        self.shuffle = shuffle
        self.bucket = int(bucket)
        if int(width_multiple) < 1:
            raise ValueError("width_multiple must be >= 1")
        self.width_multiple = int(width_multiple)
        #: rows of ``sequences`` that take part (at least ``min_length`` items)
        self.users = np.flatnonzero(sequences.lengths >= min_length)
        kept = sequences.select(self.users).tail(max_len)
        self.lengths = kept.lengths  # host copy: batch widths never need a device sync
        matrix = torch.from_numpy(kept.padded(max_len, side=side))
        self.width = int(matrix.shape[1])
        if keep_on_device is None:
            keep_on_device = self.device.type == "cpu" or matrix.numel() * 8 <= _DEVICE_DATA_BUDGET
        self._on_device = bool(keep_on_device)
        if self._on_device:
            self._matrix = matrix.to(self.device)
        else:
            self._matrix = matrix.pin_memory() if self.device.type == "cuda" else matrix
        self._lengths_t = torch.from_numpy(self.lengths).to(self._matrix.device)

    @property
    def n_users(self) -> int:
        """Users that take part in training."""
        return len(self.users)

    @property
    def n_tokens(self) -> int:
        """Real items per epoch."""
        return int(self.lengths.sum())

    def __len__(self) -> int:
        return -(-self.n_users // self.batch_size)

    def order(self, generator: torch.Generator | None) -> list[np.ndarray]:
        """The row indices of every batch of one epoch (host arrays)."""
        n = self.n_users
        if self.shuffle:
            perm = torch.randperm(n, generator=generator).numpy()
        else:
            perm = np.arange(n)
        if self.bucket > 1 and self.shuffle:
            pool = self.bucket * self.batch_size
            # sort by length times a random factor in [1, BUCKET_JITTER): users whose lengths
            # are within that factor of each other change places from epoch to epoch, so a
            # batch's members are not the same every epoch (a plain sort of a pool that holds
            # the whole data set would fix them), at a little more padding
            jitter = torch.rand(n, generator=generator, dtype=torch.float64).numpy()
            key = np.log(np.maximum(self.lengths[perm], 1)) + np.log(BUCKET_JITTER) * jitter
            chunks = []
            for start in range(0, n, pool):
                part = slice(start, start + pool)
                chunks.append(perm[part][np.argsort(-key[part], kind="stable")])
            perm = np.concatenate(chunks) if chunks else perm
        batches = [perm[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        if self.bucket > 1 and self.shuffle and len(batches) > 1:
            batch_order = torch.randperm(len(batches), generator=generator).numpy()
            batches = [batches[i] for i in batch_order]
        return batches

    def __call__(self, generator: torch.Generator | None = None) -> Iterator[SequenceBatch]:
        """Iterate over one epoch of batches, in an order drawn from ``generator``."""
        batches = self.order(generator)
        if not batches:
            return
        # bucketed batches hold very different numbers of targets: weigh each by its share
        mean_targets = None
        if self.bucket > 1 and self.shuffle:
            mean_targets = max(self.n_tokens - self.n_users, 1) / len(batches)
        if self.shuffle:
            # each batch's rows in order of length (the loss is a mean over positions: row
            # order is free), so that SequenceBatch.length_groups cuts groups of similar lengths
            batches = [b[np.argsort(self.lengths[b], kind="stable")] for b in batches]
        # one host-to-device copy of the epoch's order instead of one per batch
        flat = torch.from_numpy(np.concatenate(batches)).to(self._matrix.device)
        start = 0
        for idx in batches:
            rows = flat[start : start + len(idx)]
            start += len(idx)
            lengths = self.lengths[idx]
            width = max(int(lengths.max()), 1)
            # a few fixed widths (what a compiled step wants) instead of one per longest user
            width = min(self.width, -(-width // self.width_multiple) * self.width_multiple)
            block = self._matrix.index_select(0, rows)
            block = block[:, self.width - width :] if self.side == "left" else block[:, :width]
            lens = self._lengths_t.index_select(0, rows)
            if not self._on_device:
                block = block.to(self.device, non_blocking=True)
                lens = lens.to(self.device, non_blocking=True)
                rows = rows.to(self.device, non_blocking=True)
            n_tokens = int(lengths.sum())
            weight = 1.0
            if mean_targets:
                weight = (n_tokens - len(idx)) / mean_targets
            yield SequenceBatch(
                items=block,
                lengths=lens,
                rows=rows,
                n_tokens=n_tokens,
                side=self.side,
                weight=weight,
                host_lengths=lengths,
            )


def grouped_positions(
    batch: SequenceBatch,
    groups: int,
    positions: Callable[[SequenceBatch], tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """``positions`` (a part's selected hidden states and targets) over the batch's length groups.

    The network runs on each of :meth:`SequenceBatch.length_groups` (less padding); the results
    are concatenated so that the loss is computed once, over all of the batch's positions.
    """
    pairs = [positions(part) for part in batch.length_groups(groups)]
    if len(pairs) == 1:
        return pairs[0]
    return torch.cat([h for h, _ in pairs]), torch.cat([t for _, t in pairs])


def select_positions(x: torch.Tensor, mask: torch.Tensor, count: int | None = None) -> torch.Tensor:
    """``x[mask]`` for a ``(B, W)`` mask over the first two dims of ``x``, without a host sync.

    Boolean indexing must learn the number of selected elements on the host, which stalls a CUDA
    stream every step. When ``count`` (the number of ``True`` values, usually known from the
    batch lengths) is given, a stable sort of the mask gives the same rows in the same order with
    a static size. On the CPU, plain boolean indexing is used (no stream to stall).
    """
    if count is None or x.device.type == "cpu":
        return x[mask]
    return _select_static(x, mask, count)


def _select_static(x: torch.Tensor, mask: torch.Tensor, count: int) -> torch.Tensor:
    """The rows of ``x`` where ``mask`` holds, in order, with a size known in advance."""
    flat_mask = mask.reshape(-1)
    # a stable sort puts the True positions first, in their original order
    idx = torch.argsort((~flat_mask).to(torch.int8), stable=True)[:count]
    return x.reshape(flat_mask.shape[0], *x.shape[mask.dim() :]).index_select(0, idx)
