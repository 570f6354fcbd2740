"""The global temporal split of PROTOCOL §2b (``gts``); exact definitions in docs/protocol.md §2b.

A time boundary ``T`` cuts every user at the same moment: models learn from the interactions
before ``T`` only, and users with interactions on both sides are tested on what came after.

Example (the worked example of docs/protocol.md §2b):
    >>> seqs = Sequences.from_lists(
    ...     [[1, 2, 3, 4, 5], [2, 3, 6], [1, 4, 5, 6], [3, 7, 2, 1], [5, 6, 7, 3]], n_items=7)
    >>> ts = np.array([1, 4, 9, 16, 19, 2, 6, 12, 3, 7, 11, 15, 5, 8, 17, 20, 10, 13, 14, 15])
    >>> split = GlobalTemporalSplit.from_sequences(seqs, ts, q=0.75)
    >>> split.boundary, split.valid_boundary, split.test_users.tolist()
    (15, 11, [0, 2, 3, 4])
    >>> split.test_targets().tolist(), split.test_inputs.to_lists()[3]
    ([5, 6, 1, 3], [5, 6, 7])
    >>> split.train.to_lists()
    [[1, 2, 3], [2, 3], [1, 4], [3, 7], [5]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from seqrec_bench.data.dataset import DatasetError
from seqrec_bench.data.sequences import Sequences, _ranges

if TYPE_CHECKING:
    from seqrec_bench.data.dataset import PreparedDataset

__all__ = ["GlobalTemporalSplit", "GTS_TARGETS", "GTS_VALID", "GTS_STREAM_KEY"]

#: How the target of a user is chosen among their interactions after a boundary.
GTS_TARGETS = ("last", "first", "random", "all")
#: How the validation split is made.
GTS_VALID = ("by_time", "by_users")
#: The fixed key of the split's random streams: ``numpy_generator(seed, "shuffle", key, k)`` with
#: ``k = 0`` for random test targets, ``1`` for random validation targets, ``2`` for the
#: ``by_users`` held-out users.
GTS_STREAM_KEY = 0x675F


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DatasetError(f"gts {what} must be a number, got {value!r}")
    return float(value)


def _share(value: Any, what: str, *, closed: bool) -> Fraction:
    """``value`` as the exact decimal it is written as, checked to lie in (0, 1] or (0, 1)."""
    number = _number(value, what)
    ok = 0 < number <= 1 if closed else 0 < number < 1
    if not ok or math.isnan(number):
        interval = "(0, 1]" if closed else "(0, 1)"
        raise DatasetError(f"gts {what} must be in {interval}, got {value!r}")
    return Fraction(str(number))


def quantile_boundary(timestamps: np.ndarray, q: float) -> Any:
    """The order statistic ``t_k``, ``k = ceil(q * N)`` (1-based) of the sorted ``timestamps``.

    Example:
        >>> quantile_boundary(np.arange(1, 21), 0.75), quantile_boundary(np.arange(1, 21), 0.9)
        (15, 18)
    """
    n = len(timestamps)
    k = max(1, math.ceil(_share(q, "q", closed=True) * n))
    return np.partition(timestamps, k - 1)[k - 1].item()


def _counts_before(
    user_of: np.ndarray, timestamps: np.ndarray, bound: Any, n_users: int
) -> np.ndarray:
    """Per user, how many interactions have a timestamp ``< bound`` (a prefix of the row)."""
    return np.bincount(user_of[timestamps < bound], minlength=n_users).astype(np.int64)


def _prefixes(seqs: Sequences, starts: np.ndarray, lengths: np.ndarray) -> Sequences:
    """Rows ``items[starts[i] : starts[i] + lengths[i]]`` (with their timestamps)."""
    index = _ranges(starts, lengths)
    times = None if seqs.times is None else seqs.times[index]
    return Sequences.from_lengths(seqs.items[index], lengths, seqs.n_items, times)


def _targets(
    seqs: Sequences,
    lo: np.ndarray,
    hi: np.ndarray,
    target: str,
    seed: int,
    stream: int,
) -> tuple[np.ndarray, np.ndarray, Sequences]:
    """(owner rows, targets, inputs) for every user with ``lo >= 1`` and ``hi > lo``.

    ``lo``/``hi`` are per-user prefix lengths: the window is the positions ``[lo, hi)`` of a row.
    """
    users = np.flatnonzero((lo >= 1) & (hi > lo))
    starts = seqs.offsets[users]
    first, m = starts + lo[users], hi[users] - lo[users]
    if target == "last":
        owner, pos = users, first + m - 1
    elif target == "first":
        owner, pos = users, first
    elif target == "random":
        from seqrec_bench.seeding import numpy_generator

        rng = numpy_generator(seed, "shuffle", GTS_STREAM_KEY, stream)
        owner = users
        pos = first + (rng.integers(0, m) if len(m) else np.zeros(0, dtype=np.int64))
    else:  # all
        owner, pos = np.repeat(users, m), _ranges(first, m)
    row_start = seqs.offsets[owner]
    inputs = _prefixes(seqs, row_start, pos - row_start)
    return owner.astype(np.int64), seqs.items[pos].astype(np.int64), inputs


@dataclass(frozen=True)
class GlobalTemporalSplit:
    """The global temporal split (PROTOCOL §2b; docs/protocol.md §2b has the exact rules).

    Attributes:
        boundary: the test boundary ``T`` (an actual timestamp unless given explicitly).
        valid_boundary: ``T_v`` under ``valid="by_time"``, ``None`` under ``"by_users"``.
        target: ``"last"``, ``"first"``, ``"random"`` or ``"all"``.
        valid: ``"by_time"`` or ``"by_users"``.
        train: what models are fitted on, one row per user of the data set (rows may be empty):
            the interactions ``< T_v`` under ``by_time``; those ``< T`` without the held-out
            validation targets under ``by_users``.
        valid_inputs: one row per validation pair: the user's history before its target.
        valid_targets: the validation target of every pair.
        valid_owner: the user row of every validation pair.
        test_inputs: one row per test pair: the user's whole history before its target.
        test_owner: the user row of every test pair. With ``target="all"`` a user owns several
            pairs: average a metric over each user's pairs first, then over users
            (:meth:`per_user_mean`).

    The test targets are kept out of every attribute; only the final evaluation reads them,
    through :meth:`test_targets`. Candidates are every item ``1..n_items``.
    """

    boundary: Any
    valid_boundary: Any
    target: str
    valid: str
    train: Sequences
    valid_inputs: Sequences
    valid_targets: np.ndarray
    valid_owner: np.ndarray
    test_inputs: Sequences
    test_owner: np.ndarray
    _test_targets: np.ndarray = field(repr=False)

    @classmethod
    def from_dataset(
        cls,
        dataset: PreparedDataset,
        *,
        q: float = 0.9,
        boundary: float | None = None,
        target: str = "last",
        valid: str = "by_time",
        valid_share: float = 0.1,
        seed: int = 0,
    ) -> GlobalTemporalSplit:
        """Split a prepared data set by its per-interaction timestamps (see :meth:`from_sequences`)."""
        return cls.from_sequences(
            dataset.sequences,
            dataset.timestamps,
            q=q,
            boundary=boundary,
            target=target,
            valid=valid,
            valid_share=valid_share,
            seed=seed,
            where=dataset.name,
        )

    @classmethod
    def from_sequences(
        cls,
        seqs: Sequences,
        timestamps: np.ndarray | None,
        *,
        q: float = 0.9,
        boundary: float | None = None,
        target: str = "last",
        valid: str = "by_time",
        valid_share: float = 0.1,
        seed: int = 0,
        where: str = "the data set",
    ) -> GlobalTemporalSplit:
        """Split ``seqs`` at a global time boundary.

        Args:
            seqs: per-user sequences in prepared (time) order.
            timestamps: the timestamp of every entry of ``seqs.items``, or ``None`` (an error).
            q: the quantile of the boundary (and of ``T_v`` among the training timestamps).
            boundary: an explicit ``T`` instead of the ``q``-quantile (``T_v`` still uses ``q``).
            target: ``"last"``, ``"first"``, ``"random"`` or ``"all"``.
            valid: ``"by_time"`` or ``"by_users"``.
            valid_share: the share of eligible users held out under ``by_users``, in (0, 1).
            seed: the seed of the ``random`` targets and of the ``by_users`` draw.
            where: the data set's name, for error messages.

        Raises:
            DatasetError: no timestamps, a bad option, timestamps out of time order, or a
                boundary that leaves no test users (or no validation users), as one line.
        """
        if timestamps is None:
            raise DatasetError(
                f"{where} has no timestamps, so the global temporal split (gts) cannot be "
                "used: use the leave-one-out split, or an interactions file with a timestamp column"
            )
        if target not in GTS_TARGETS:
            raise DatasetError(
                f"unknown gts target {target!r}: use one of {', '.join(GTS_TARGETS)}"
            )
        if valid not in GTS_VALID:
            raise DatasetError(
                f"unknown gts validation {valid!r}: use one of {', '.join(GTS_VALID)}"
            )
        _share(q, "q", closed=True)
        if valid == "by_users":
            share = _share(valid_share, "valid_share", closed=False)
        ts = np.asarray(timestamps)
        if ts.ndim != 1 or len(ts) != len(seqs.items):
            raise DatasetError(f"{where}: {ts.size} timestamps for {len(seqs.items)} interactions")
        if len(ts) == 0:
            raise DatasetError(f"{where} has no interactions to split")
        seqs = seqs.with_times(ts)  # every input and the training rows keep their timestamps
        user_of = seqs.user_index()
        same = user_of[1:] == user_of[:-1]
        if np.any(ts[1:][same] < ts[:-1][same]):
            raise DatasetError(f"{where}: timestamps are not in each user's time order")
        n_users = seqs.n_users
        lengths = seqs.lengths
        starts = seqs.offsets[:-1]

        if boundary is None:
            bound = quantile_boundary(ts, q)
        else:
            _number(boundary, "boundary")
            bound = boundary
        before = _counts_before(user_of, ts, bound, n_users)
        test_owner, test_targets, test_inputs = _targets(
            seqs, before, lengths, target, seed, stream=0
        )
        if len(test_owner) == 0:
            raise DatasetError(
                f"the gts boundary T={bound} leaves no test users (timestamps range "
                f"{ts.min().item()}..{ts.max().item()}; a test user needs interactions before T "
                "and at or after it): choose another q or boundary"
            )

        valid_bound: Any = None
        if valid == "by_time":
            valid_bound = quantile_boundary(ts[ts < bound], q)
            fit = _counts_before(user_of, ts, valid_bound, n_users)
            valid_owner, valid_targets, valid_inputs = _targets(
                seqs, fit, before, target, seed, stream=1
            )
            if len(valid_owner) == 0:
                raise DatasetError(
                    f"the gts validation boundary T_v={valid_bound} leaves no validation users "
                    f"(T={bound}; they need interactions before T_v and in [T_v, T)): choose "
                    "another q or use by_users validation"
                )
            train = _prefixes(seqs, starts, fit)
        else:
            from seqrec_bench.seeding import numpy_generator

            eligible = np.flatnonzero(before >= 2)
            if len(eligible) == 0:
                raise DatasetError(
                    f"no user has 2 interactions before the gts boundary T={bound}: by_users "
                    "validation needs them; use by_time validation or another boundary"
                )
            n_valid = math.ceil(share * len(eligible))
            rng = numpy_generator(seed, "shuffle", GTS_STREAM_KEY, 2)
            valid_owner = np.sort(eligible[rng.permutation(len(eligible))[:n_valid]])
            valid_owner = valid_owner.astype(np.int64)
            fit = before.copy()
            fit[valid_owner] -= 1
            valid_targets = seqs.items[starts[valid_owner] + fit[valid_owner]].astype(np.int64)
            valid_inputs = _prefixes(seqs, starts[valid_owner], fit[valid_owner])
            train = _prefixes(seqs, starts, fit)

        return cls(
            boundary=bound,
            valid_boundary=valid_bound,
            target=target,
            valid=valid,
            train=train,
            valid_inputs=valid_inputs,
            valid_targets=valid_targets,
            valid_owner=valid_owner,
            test_inputs=test_inputs,
            test_owner=test_owner,
            _test_targets=test_targets,
        )

    @property
    def n_users(self) -> int:
        """Users of the data set (rows of :attr:`train`)."""
        return self.train.n_users

    @property
    def n_items(self) -> int:
        return self.train.n_items

    @property
    def valid_users(self) -> np.ndarray:
        """The user rows with a validation target, ascending."""
        return np.unique(self.valid_owner)

    @property
    def test_users(self) -> np.ndarray:
        """The user rows with a test target, ascending."""
        return np.unique(self.test_owner)

    def test_targets(self) -> np.ndarray:
        """The held-out test items, one per test pair. Only the final evaluation calls this."""
        return self._test_targets

    @staticmethod
    def per_user_mean(values: np.ndarray, owner: np.ndarray) -> np.ndarray:
        """The mean of per-pair ``values`` over each user's pairs, one per user (ascending rows).

        Example:
            >>> GlobalTemporalSplit.per_user_mean(np.array([1.0, 0.0, 1.0]), np.array([0, 0, 3]))
            array([0.5, 1. ])
        """
        users, inverse, counts = np.unique(owner, return_inverse=True, return_counts=True)
        sums = np.bincount(
            inverse, weights=np.asarray(values, dtype=np.float64), minlength=len(users)
        )
        return sums / counts
