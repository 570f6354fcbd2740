"""Flat per-user item sequences and the id vocabulary.

Everything downstream of loading works on :class:`Sequences`: one int64 array of item ids
(``1..n_items``; 0 is reserved for padding) and an offsets array, so that a million
interactions move through numpy/torch without per-row Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["Sequences", "Vocabulary"]


@dataclass(frozen=True)
class Vocabulary:
    """Maps opaque user and item ids to dense integers.

    Items map to ``1..n_items`` (``item_ids[i - 1]`` is the raw id of item ``i``); users map to
    ``0..n_users-1`` in the order of :class:`Sequences` rows.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def item_index(self) -> dict:
        """Raw item id -> dense id (1-based). Built on demand; only for small look-ups."""
        return {raw: i + 1 for i, raw in enumerate(self.item_ids.tolist())}


@dataclass(frozen=True)
class Sequences:
    """A batch of per-user item sequences stored flat.

    Attributes:
        items: int64 array of dense item ids in ``1..n_items``, all users concatenated.
        offsets: int64 array of length ``n_users + 1``; user ``u`` owns
            ``items[offsets[u]:offsets[u + 1]]``, oldest first.
        n_items: size of the item catalogue (the number of score columns a model returns).
        times: the timestamp of every entry of :attr:`items` (same order), or ``None``. Kept
            through every slicing method; what time-aware models (``recentpop``) read. Models
            that ignore time never look at it.

    Example:
        >>> s = Sequences.from_lists([[1, 2, 3], [2, 4]], n_items=4)
        >>> s.lengths.tolist(), s[1].tolist()
        ([3, 2], [2, 4])
    """

    items: np.ndarray
    offsets: np.ndarray
    n_items: int
    times: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or len(self.offsets) < 1 or self.offsets[0] != 0:
            raise ValueError("offsets must be a 1-d array starting at 0")
        if self.offsets[-1] != len(self.items):
            raise ValueError(
                f"offsets end at {int(self.offsets[-1])} but there are {len(self.items)} items"
            )
        if self.times is not None and len(self.times) != len(self.items):
            raise ValueError(f"{len(self.times)} timestamps for {len(self.items)} items")

    def with_times(self, times: np.ndarray | None) -> Sequences:
        """The same sequences with the timestamp of every entry (or without, for ``None``).

        Example:
            >>> s = Sequences.from_lists([[1, 2], [3]], n_items=3).with_times(np.array([5, 9, 7]))
            >>> s.last_times().tolist()
            [9, 7]
        """
        return Sequences(self.items, self.offsets, self.n_items, times)

    def _take_times(self, index: np.ndarray | slice) -> np.ndarray | None:
        return None if self.times is None else self.times[index]

    def last_times(self) -> np.ndarray:
        """The timestamp of every row's last item (the time of a prediction from that row).

        Raises:
            ValueError: the sequences carry no timestamps, or a row is empty.
        """
        if self.times is None:
            raise ValueError("these sequences carry no timestamps")
        if (self.lengths == 0).any():
            raise ValueError("an empty row has no last timestamp")
        return self.times[self.offsets[1:] - 1]

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_lists(cls, seqs: list[list[int]], n_items: int | None = None) -> Sequences:
        """Build from a list of item-id lists (convenient in tests; not for large data)."""
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        items = (
            np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs])
            if len(seqs) and offsets[-1]
            else np.zeros(0, dtype=np.int64)
        )
        if n_items is None:
            n_items = int(items.max()) if len(items) else 0
        return cls(items=items, offsets=offsets, n_items=int(n_items))

    @classmethod
    def from_lengths(
        cls,
        items: np.ndarray,
        lengths: np.ndarray,
        n_items: int,
        times: np.ndarray | None = None,
    ) -> Sequences:
        """Build from the flat item array and per-user lengths (and, optionally, timestamps)."""
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(
            items=np.ascontiguousarray(items, dtype=np.int64),
            offsets=offsets,
            n_items=n_items,
            times=times,
        )

    # -- basic views ----------------------------------------------------------------------------
    @property
    def lengths(self) -> np.ndarray:
        """Per-user sequence lengths (int64)."""
        return np.diff(self.offsets)

    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1

    def __len__(self) -> int:
        return self.n_users

    def __getitem__(self, user: int) -> np.ndarray:
        return self.items[self.offsets[user] : self.offsets[user + 1]]

    def to_lists(self) -> list[list[int]]:
        """The sequences as Python lists (for tests and debugging)."""
        return [self[u].tolist() for u in range(self.n_users)]

    def user_index(self) -> np.ndarray:
        """For every position of :attr:`items`, the row (user) it belongs to."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.lengths)

    # -- slicing (all vectorised) ---------------------------------------------------------------
    def select(self, users: np.ndarray | slice) -> Sequences:
        """The sub-batch of the given rows, in the given order."""
        if isinstance(users, slice):
            start, stop, step = users.indices(self.n_users)
            if step == 1:
                lo, hi = self.offsets[start], self.offsets[max(stop, start)]
                return Sequences(
                    items=self.items[lo:hi],
                    offsets=self.offsets[start : max(stop, start) + 1] - lo,
                    n_items=self.n_items,
                    times=self._take_times(slice(lo, hi)),
                )
            users = np.arange(start, stop, step)
        users = np.asarray(users, dtype=np.int64)
        starts, lengths = self.offsets[users], self.lengths[users]
        return self._rows(_ranges(starts, lengths), lengths)

    def _rows(self, index: np.ndarray, lengths: np.ndarray) -> Sequences:
        """The entries at ``index`` (flat positions), cut into rows of ``lengths``."""
        return Sequences.from_lengths(
            self.items[index], lengths, self.n_items, self._take_times(index)
        )

    def truncate(self, drop_last: int) -> Sequences:
        """Each sequence without its last ``drop_last`` items (sequences must be long enough)."""
        lengths = self.lengths - drop_last
        if (lengths < 0).any():
            raise ValueError(f"a sequence is shorter than {drop_last}")
        return self._rows(_ranges(self.offsets[:-1], lengths), lengths)

    def last(self, n: int = 1) -> np.ndarray:
        """The last item of every sequence (``n=1``) as a 1-d array, or the ``n``-th from last.

        Sequences shorter than ``n`` give 0 (padding).
        """
        lengths = self.lengths
        idx = self.offsets[1:] - n
        out = np.zeros(self.n_users, dtype=np.int64)
        ok = lengths >= n
        out[ok] = self.items[idx[ok]]
        return out

    def tail(self, max_len: int) -> Sequences:
        """Each sequence cut to its most recent ``max_len`` items."""
        lengths = np.minimum(self.lengths, max_len)
        starts = self.offsets[1:] - lengths
        return self._rows(_ranges(starts, lengths), lengths)

    def padded(self, max_len: int | None = None, *, side: str = "left") -> np.ndarray:
        """A dense ``(n_users, L)`` int64 matrix, 0-padded, of each sequence's last ``max_len`` items.

        ``L`` is the longest (truncated) sequence in the batch, so short batches stay small.
        ``side="left"`` right-aligns the items (the most recent item in the last column), which is
        what causal models read; ``side="right"`` left-aligns them.
        """
        lengths = self.lengths if max_len is None else np.minimum(self.lengths, max_len)
        width = int(lengths.max()) if len(lengths) else 0
        out = np.zeros((self.n_users, max(width, 1)), dtype=np.int64)
        if width == 0:
            return out
        rows = np.repeat(np.arange(self.n_users), lengths)
        pos = _ranges(np.zeros_like(lengths), lengths)  # position within the kept tail
        if side == "left":
            cols = pos + np.repeat(width - lengths, lengths)
        elif side == "right":
            cols = pos
        else:
            raise ValueError(f"side must be 'left' or 'right', not {side!r}")
        src = _ranges(self.offsets[1:] - lengths, lengths)
        out[rows, cols] = self.items[src]
        return out

    def padded_tensor(
        self, max_len: int | None = None, *, side: str = "left", device: str | torch.device = "cpu"
    ) -> torch.Tensor:
        """:meth:`padded` as a LongTensor on ``device``."""
        import torch

        return torch.from_numpy(self.padded(max_len, side=side)).to(device)

    def append(self, items: np.ndarray, times: np.ndarray | None = None) -> Sequences:
        """Each sequence with one more item at its end (used to build the test input).

        ``times`` are the new items' timestamps; the result carries timestamps when both this
        batch and ``times`` have them.
        """
        items = np.asarray(items, dtype=np.int64)
        if len(items) != self.n_users:
            raise ValueError("need exactly one item per user")
        if times is not None and len(times) != self.n_users:
            raise ValueError("need exactly one timestamp per user")
        lengths = self.lengths + 1
        out = np.empty(len(self.items) + self.n_users, dtype=np.int64)
        new_offsets = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        is_new = np.zeros(len(out), dtype=bool)
        is_new[new_offsets[1:] - 1] = True
        out[is_new] = items
        out[~is_new] = self.items
        new_times = None
        if self.times is not None and times is not None:
            new_times = np.empty(len(out), dtype=np.result_type(self.times, times))
            new_times[is_new] = times
            new_times[~is_new] = self.times
        return Sequences(items=out, offsets=new_offsets, n_items=self.n_items, times=new_times)

    def item_counts(self) -> np.ndarray:
        """Occurrences of every item; index 0 is padding (always 0). Length ``n_items + 1``."""
        return np.bincount(self.items, minlength=self.n_items + 1).astype(np.int64)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + l)`` for every (s, l) pair, without a Python loop."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    run_starts = np.cumsum(lengths) - lengths  # where each run begins in the output
    total = int(lengths.sum())
    return np.arange(total, dtype=np.int64) + np.repeat(starts - run_starts, lengths)
