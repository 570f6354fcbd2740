"""Raw interaction records -> dense ids, filtered, time-ordered :class:`Sequences` (PROTOCOL §1).

The steps, all vectorised (no Python loop per record):

0. exact duplicate records (same user, item and timestamp) are counted and, by default
   (``duplicates="drop"``), dropped, keeping the first in file order; without timestamps a
   duplicate cannot be told from a repeat, so nothing is dropped (repeats are counted in the
   statistics instead);
1. ``min_rating`` drops records rated below it (the data must have ratings);
2. user and item ids are factorised (sorted raw ids, so numeric ids keep their order);
3. k-core filtering, repeated until nothing changes: items with fewer than
   ``min_item_interactions`` records go, then users with fewer than ``min_user_interactions``,
   then users with fewer than 3 records (leave-one-out needs them; PROTOCOL §1.5). The short-user
   rule runs inside the loop so that, with an item threshold, dropping a short user cannot leave
   an item below it;
4. ids are made dense again (users ``0..n_users-1``, items ``1..n_items``; 0 is padding);
5. a stable sort by (user, timestamp): records with the same timestamp keep the file order
   (``tie_order="file"``, PROTOCOL §1.4), or are ordered by item id (``"item"``) or by a fixed
   seeded random key (``"random"``), to measure how much the tie order moves a result.

Every removal is counted (records and users, by cause) so the statistics can report it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqrec_bench.data.dataset import DatasetError
from seqrec_bench.data.readers import Interactions
from seqrec_bench.data.sequences import Sequences, Vocabulary
from seqrec_bench.data.split import MIN_SEQUENCE_LENGTH

__all__ = ["Preprocessed", "preprocess_interactions", "DUPLICATES", "TIE_ORDERS"]

#: What :func:`preprocess_interactions` does with exact duplicate records (same user, item and
#: timestamp): ``"drop"`` keeps the first in file order (the default), ``"keep"`` keeps them all.
DUPLICATES = ("drop", "keep")

#: How :func:`preprocess_interactions` orders a user's records that share a timestamp:
#: ``"file"`` keeps the source file order (the default, PROTOCOL §1.4), ``"item"`` sorts them by
#: raw item id, ascending (the order of the dense item ids: numeric for integer ids, by code point
#: for string ids), ``"random"`` by a random key from a fixed seeded stream (the same on every run).
TIE_ORDERS = ("file", "item", "random")

#: The fixed key of the ``"random"`` tie order's stream: ``numpy_generator(0, "shuffle", key)``
#: (never change it: it would change every data set prepared with ``tie_order="random"``).
TIE_ORDER_KEY = 0x7E0D


@dataclass(frozen=True)
class Preprocessed:
    """The result of :func:`preprocess_interactions`.

    Attributes:
        sequences: per-user sequences, oldest first.
        vocab: raw user and item ids of the dense ids.
        timestamps: the timestamp of every entry of ``sequences.items`` (same order), or ``None``
            when the input had none.
        counts: what was read and what was dropped, by cause: ``raw_records``, ``raw_users``,
            ``raw_items``, ``records_dropped_rating``/``_kcore``/``_short``,
            ``users_dropped_rating``/``_kcore``/``_short``, ``duplicates_found`` (exact duplicate
            records beyond the first; ``None`` without timestamps, where they cannot be told from
            repeats) and ``duplicates_dropped``.
    """

    sequences: Sequences
    vocab: Vocabulary
    timestamps: np.ndarray | None
    counts: dict[str, int | None] = field(default_factory=dict)


def _vocab_array(values: np.ndarray | pd.Index) -> np.ndarray:
    """Unique raw ids as int64, or as an object array of ``str``.

    Never a fixed-width unicode array: its width is that of the longest id, so one very long id
    would make every id cost as much (gigabytes for a 1 MB id among 400 items).
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype == object and all(type(v) is str for v in arr):
        return arr
    out = np.empty(len(arr), dtype=object)
    out[:] = [str(v) for v in arr]
    return out


def check_duplicates(value: object) -> str:
    """``value`` if it is a valid ``duplicates`` option, else a one-line :class:`DatasetError`."""
    if not isinstance(value, str) or value not in DUPLICATES:
        raise DatasetError(
            f"duplicates = {value!r} is not an option: use 'drop' (the default: remove exact "
            "duplicate records, same user, item and timestamp) or 'keep' (--duplicates keep|drop)"
        )
    return value


def check_tie_order(value: object) -> str:
    """``value`` if it is a valid ``tie_order`` option, else a one-line :class:`DatasetError`."""
    if not isinstance(value, str) or value not in TIE_ORDERS:
        raise DatasetError(
            f"tie_order = {value!r} is not an option: use 'file' (the default: records with the "
            "same timestamp keep the source file order), 'item' (by item id) or 'random' (a "
            "fixed seeded order) (--tie-order file|item|random)"
        )
    return value


def no_ties_error(where: str, tie_order: str) -> DatasetError:
    """The one-line error for a ``tie_order`` other than ``"file"`` on data without timestamps."""
    return DatasetError(
        f"{where} has no timestamps, so there are no ties to order: tie_order={tie_order!r} "
        "needs an interactions file with a timestamp column; drop it (--tie-order file)"
    )


def _tie_break(
    items: np.ndarray, keep: np.ndarray, n_raw: int, tie_order: str
) -> np.ndarray | None:
    """A permutation of the records to apply before the stable time sort, or ``None`` (file order).

    The stable (user, timestamp) sort of the permuted records orders every tie by the
    permutation: by dense item id (= raw id order) for ``"item"``, by a seeded random key for
    ``"random"``. The random key belongs to the record's position in the file (one draw per
    raw record, ``keep`` picks the survivors), so filters do not reshuffle the ties that remain.
    """
    if tie_order == "item":
        return np.argsort(items, kind="stable")
    if tie_order == "random":
        from seqrec_bench.seeding import numpy_generator

        keys = numpy_generator(0, "shuffle", TIE_ORDER_KEY).random(n_raw)[keep]
        return np.argsort(keys, kind="stable")
    return None


def _duplicated(users: np.ndarray, items: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Records whose (user, item, timestamp) an earlier record in file order already has."""
    frame = pd.DataFrame({"u": users, "i": items, "t": timestamps}, copy=False)
    return frame.duplicated(keep="first").to_numpy()


def _nothing_left(
    counts: dict[str, int],
    per_user: np.ndarray,
    filters: dict[str, float | int | None],
    files: list[str],
) -> DatasetError:
    """The error for a data set where no user keeps >= 3 interactions, saying why."""
    error = _nothing_left_text(counts, per_user, filters)
    return DatasetError(f"{', '.join(files)}: {error}" if files else error)


def _nothing_left_text(
    counts: dict[str, int],
    per_user: np.ndarray,
    filters: dict[str, float | int | None],
) -> str:
    need = MIN_SEQUENCE_LENGTH
    n_records, n_users = counts["raw_records"], counts["raw_users"]
    if not n_records:
        return "the data has no records: nothing to prepare"
    if n_users == n_records:
        return (
            f"no user has >= {need} interactions: each of the {n_users:,} users appears in "
            "exactly one record, so the file looks like one sequence per user: pass --format "
            "sequences if each line is 'user item item ...' (oldest first)"
        )
    given = {k: v for k, v in filters.items() if v is not None}
    most = int(per_user.max()) if len(per_user) else 0
    if not given:
        return (
            f"no user has >= {need} interactions (the most any of the {n_users:,} users has is "
            f"{most}, in {n_records:,} records): leave-one-out needs {need} per user; check the "
            "user column (--columns user=COL,item=COL,time=COL)"
        )
    options = ", ".join(f"{k}={v}" for k, v in filters.items())
    return f"no user has >= {need} interactions after filtering ({options}); relax the filters"


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``0..k-1`` and the sorted unique values, so that ``uniques[codes] == values``.

    Integer ids in a compact range (MovieLens, most logs) are ranked through a presence table
    in O(n), about ten times faster than hashing; other ids are hashed without sorting and only
    the unique values are sorted afterwards.
    """
    if values.dtype.kind in "iu" and len(values):
        low, high = int(values.min()), int(values.max())
        if high - low <= 4 * len(values) + (1 << 20):
            present = np.zeros(high - low + 1, dtype=bool)
            present[values - low] = True
            rank = np.cumsum(present) - 1
            return rank[values - low], np.flatnonzero(present) + low
    codes, uniques = pd.factorize(values, sort=False)
    uniques = np.asarray(uniques)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], uniques[order]


def _time_order(users: np.ndarray, timestamps: np.ndarray, n_users: int) -> np.ndarray:
    """Indices that sort records by (user, timestamp), stably (ties keep their order).

    One stable sort of a combined integer key ``user * span + time`` is about twice as fast as
    ``np.lexsort`` on two keys; timestamps that are not integers are ranked first.
    """
    if timestamps.dtype.kind not in "iu":
        _, timestamps = np.unique(timestamps, return_inverse=True)
    low = int(timestamps.min())
    span = int(timestamps.max()) - low + 1
    if n_users * span >= 2**62:  # the key would overflow: rank the timestamps instead
        _, timestamps = np.unique(timestamps, return_inverse=True)
        low, span = 0, int(timestamps.max()) + 1
        if n_users * span >= 2**62:
            return np.lexsort((timestamps, users))
    key = users * span + (timestamps.astype(np.int64) - low)
    return np.argsort(key, kind="stable")


def _n_present(codes: np.ndarray, size: int) -> int:
    return int(np.count_nonzero(np.bincount(codes, minlength=size)))


def preprocess_interactions(
    records: Interactions,
    *,
    min_rating: float | None = None,
    min_user_interactions: int | None = None,
    min_item_interactions: int | None = None,
    duplicates: str = "drop",
    tie_order: str = "file",
) -> Preprocessed:
    """Filter, remap and order raw records into sequences.

    Args:
        records: raw records in file order (``timestamps=None`` keeps the file order).
        min_rating: drop records with a rating below this (``None``: keep all).
        min_user_interactions: user k-core threshold (``None``/0/1: no user k-core).
        min_item_interactions: item k-core threshold (``None``/0/1: no item k-core).
        duplicates: ``"drop"`` (default) removes exact duplicate records (same user, item and
            timestamp; the first in file order stays), ``"keep"`` keeps them; both count them.
            Without timestamps nothing is a duplicate (it cannot be told from a repeat).
        tie_order: how a user's records with the same timestamp are ordered (:data:`TIE_ORDERS`):
            ``"file"`` (default) keeps the file order, ``"item"`` sorts them by raw item id
            (ascending, the dense id order), ``"random"`` by a seeded random key (deterministic:
            the same records give the same order on every run). Data without timestamps accepts
            only ``"file"``.

    Returns:
        Sequences, vocabulary, aligned timestamps and the drop counts.

    Raises:
        DatasetError: ``min_rating`` without ratings, an unknown ``duplicates`` or
            ``tie_order``, ``tie_order`` other than ``"file"`` without timestamps, or no user
            left after filtering (the message says why when it can tell).

    Example:
        >>> recs = Interactions(users=np.array([7, 7, 7, 9, 7]), items=np.array([3, 1, 2, 1, 2]),
        ...                     timestamps=np.array([2, 1, 1, 5, 1]))
        >>> out = preprocess_interactions(recs)
        >>> out.sequences.to_lists(), out.counts["users_dropped_short"]
        ([[1, 2, 3]], 1)
        >>> out.counts["duplicates_found"], out.counts["duplicates_dropped"]
        (1, 1)
        >>> tied = Interactions(users=np.array([1, 1, 1]), items=np.array([30, 10, 20]),
        ...                     timestamps=np.array([5, 5, 5]))
        >>> [preprocess_interactions(tied, tie_order=t).sequences.to_lists() for t in ("file", "item")]
        [[[3, 1, 2]], [[1, 2, 3]]]
    """
    check_duplicates(duplicates)
    check_tie_order(tie_order)
    if records.timestamps is None and tie_order != "file":
        raise no_ties_error(", ".join(records.files) or "the data", tie_order)
    n_raw = len(records)
    counts: dict[str, int] = {
        "raw_records": n_raw,
        "records_dropped_rating": 0,
        "records_dropped_kcore": 0,
        "records_dropped_short": 0,
        "users_dropped_rating": 0,
        "users_dropped_kcore": 0,
        "users_dropped_short": 0,
        "duplicates_dropped": 0,
    }
    found: int | None = None  # exact duplicates beyond the first (None: no timestamps)
    user_codes, user_values = _factorize(records.users)
    item_codes, item_values = _factorize(records.items)
    n_users_raw, n_items_raw = len(user_values), len(item_values)
    counts["raw_users"], counts["raw_items"] = n_users_raw, n_items_raw

    # ``keep`` indexes the surviving records in file order; the code arrays shrink with it
    keep = np.arange(n_raw, dtype=np.int64)
    users = user_codes.astype(np.int64, copy=False)
    items = item_codes.astype(np.int64, copy=False)

    if records.timestamps is not None:
        dup = _duplicated(users, items, records.timestamps) if n_raw else np.zeros(0, bool)
        found = n_dup = int(np.count_nonzero(dup))
        if n_dup and duplicates == "drop":
            ok = ~dup
            keep, users, items = keep[ok], users[ok], items[ok]
            counts["duplicates_dropped"] = n_dup
    n_read = len(keep)  # records the filters start from

    if min_rating is not None:
        if records.ratings is None:
            raise DatasetError(
                f"min_rating={min_rating} was given but the data has no rating column; drop "
                "--min-rating or name the rating column with --columns "
                "user=COL,item=COL,time=COL,rating=COL"
            )
        ok = records.ratings[keep] >= min_rating
        keep, users, items = keep[ok], users[ok], items[ok]
        counts["records_dropped_rating"] = n_read - len(keep)
        counts["users_dropped_rating"] = n_users_raw - _n_present(users, n_users_raw)

    def apply(mask: np.ndarray, cause: str) -> bool:
        nonlocal keep, users, items
        if mask.all():
            return False
        before = _n_present(users, n_users_raw)
        keep, users, items = keep[mask], users[mask], items[mask]
        counts[f"records_dropped_{cause}"] += int(len(mask) - len(keep))
        counts[f"users_dropped_{cause}"] += before - _n_present(users, n_users_raw)
        return True

    min_item = min_item_interactions or 0
    min_user = min_user_interactions or 0
    per_user_read = np.bincount(users, minlength=n_users_raw)
    while True:
        changed = False
        if min_item > 1:
            per_item = np.bincount(items, minlength=n_items_raw)
            changed |= apply(per_item[items] >= min_item, "kcore")
        if min_user > 1:
            per_user = np.bincount(users, minlength=n_users_raw)
            changed |= apply(per_user[users] >= min_user, "kcore")
        per_user = np.bincount(users, minlength=n_users_raw)
        changed |= apply(per_user[users] >= MIN_SEQUENCE_LENGTH, "short")
        # without an item threshold, removing users cannot break anything already checked
        if not changed or min_item <= 1:
            break

    if len(keep) == 0:
        raise _nothing_left(
            counts,
            per_user_read,
            {
                "min_rating": min_rating,
                "min_user_interactions": min_user_interactions,
                "min_item_interactions": min_item_interactions,
            },
            records.files,
        )

    # dense ids in the order of the (sorted) raw ids
    user_used: np.ndarray = np.bincount(users, minlength=n_users_raw) > 0
    item_used: np.ndarray = np.bincount(items, minlength=n_items_raw) > 0
    users = (np.cumsum(user_used) - 1)[users]
    items = np.cumsum(item_used)[items]  # 1-based: 0 is padding
    n_users, n_items = int(user_used.sum()), int(item_used.sum())

    timestamps = None
    if records.timestamps is not None:
        ts = records.timestamps[keep]
        # a stable sort, and ``keep`` is in file order, so ties keep the file order; another tie
        # order permutes the records first, and the stable sort then keeps that order in ties
        first = _tie_break(items, keep, n_raw, tie_order)
        if first is None:
            order = _time_order(users, ts, n_users)
        else:
            order = first[_time_order(users[first], ts[first], n_users)]
        timestamps = ts[order]
    else:
        order = np.argsort(users, kind="stable")
    lengths = np.bincount(users, minlength=n_users)
    sequences = Sequences.from_lengths(items[order], lengths, n_items)
    vocab = Vocabulary(
        user_ids=_vocab_array(user_values[user_used]),
        item_ids=_vocab_array(item_values[item_used]),
    )
    return Preprocessed(
        sequences=sequences,
        vocab=vocab,
        timestamps=timestamps,
        counts={**counts, "duplicates_found": found},
    )
