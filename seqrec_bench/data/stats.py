"""Dataset statistics (PROTOCOL §1) and their rich-table rendering.

:func:`dataset_stats` returns a JSON-serialisable dict with these keys:

* ``users``, ``items``, ``interactions``, ``density`` (interactions / (users * items));
* ``length``: ``min``, ``p25``, ``median``, ``mean``, ``p75``, ``p90``, ``max`` of the per-user
  sequence lengths;
* ``raw_records``, ``raw_users``, ``raw_items``: what the source held;
* ``records_dropped`` (total) and ``records_dropped_rating`` / ``_kcore`` / ``_short``;
  ``users_dropped_rating`` / ``_kcore`` / ``_short`` (``_short``: fewer than 3 interactions);
* ``tied_share``: share of interactions that share their (user, timestamp) with another one;
  ``valid_target_tied_share`` / ``test_target_tied_share``: share of validation / test targets
  whose position depends on such a tie (``None`` for data without timestamps);
* ``valid_repeat_share`` / ``test_repeat_share``: share of validation / test targets that also
  occur in their own input sequence (repeat consumption; PROTOCOL §3);
* ``leakage``: how much of the leave-one-out training data lies in each test user's future
  (PROTOCOL §2b), ``None`` for data without timestamps; see :func:`leakage_stats`:
  ``mean``, ``median`` (over test users of the share, in [0, 1], of all training interactions
  whose timestamp is strictly later than the user's test target), ``share_above_10pct`` (share
  of test users for whom that share is above 0.1) and ``users`` (test users);
* ``files``: the raw file name(s);
* ``hygiene``: the data-hygiene figures in one place (see :func:`hygiene_line` and
  :func:`hygiene_warnings`): ``duplicates_found`` (exact duplicate records, same user, item and
  timestamp, beyond the first; ``None`` without timestamps, where a duplicate cannot be told from
  a repeat), ``duplicates_dropped``, ``duplicates_kept``, ``duplicate_share`` (found / raw
  records), ``consecutive_repeats`` (positions whose item equals the previous item of the same
  user, after ordering), ``consecutive_repeat_share`` (of the interactions),
  ``users_dropped_short``, ``tied_share``, ``test_target_tied_share`` and ``test_repeat_share``
  (copies of the keys above).

``records_dropped`` counts every record that was read and is not in the sequences, dropped
duplicates included, so ``raw_records - records_dropped == interactions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from seqrec_bench.data.sequences import Sequences

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from seqrec_bench.data.dataset import PreparedDataset

__all__ = [
    "dataset_stats",
    "stats_table",
    "render_stats",
    "hygiene_line",
    "hygiene_warnings",
    "leakage_stats",
    "leakage_line",
    "LEAKAGE_USER_SHARE",
    "DUPLICATE_WARN_SHARE",
    "TIED_TARGET_WARN_SHARE",
    "REPEAT_TARGET_WARN_SHARE",
]

#: Warn when more than this share of the raw records are exact duplicates (dropped or kept).
DUPLICATE_WARN_SHARE = 0.01
#: Warn when more than this share of the test targets are placed by a tie in time.
TIED_TARGET_WARN_SHARE = 0.05
#: Warn when more than this share of the test targets repeat an item of their own input.
REPEAT_TARGET_WARN_SHARE = 0.5
#: ``leakage["share_above_10pct"]`` counts the test users with more than this share of the
#: training interactions later than their test target.
LEAKAGE_USER_SHARE = 0.1


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if len(mask) else 0.0


def leakage_stats(sequences: Sequences, timestamps: np.ndarray) -> dict[str, Any] | None:
    """Leave-one-out leakage (PROTOCOL §2b): how much training data is from a test user's future.

    The training interactions are every user's items but the last two; the test users are the
    users with at least 3 items, their test target the last one. For each test user, the share
    of *all* training interactions whose timestamp is strictly later than the test target's
    (an equal timestamp is not later). One sort of the training timestamps and one
    ``searchsorted`` per user: no loop.

    Args:
        sequences: the prepared sequences (each user's items in time order).
        timestamps: the timestamp of every entry of ``sequences.items``.

    Returns:
        ``{"mean", "median", "share_above_10pct", "users"}`` (shares in [0, 1]), or ``None``
        when there is no test user or no training interaction.

    Example:
        >>> s = Sequences.from_lists([[1, 2, 3], [1, 2, 3, 4]], n_items=4)
        >>> # training: user 0 at time 1; user 1 at times 5, 6. Test targets at 4 and 9
        >>> leakage_stats(s, np.array([1, 3, 4, 5, 6, 8, 9]))
        {'mean': 0.3333333333333333, 'median': 0.3333333333333333, 'share_above_10pct': 0.5, 'users': 2}
    """
    lengths = sequences.lengths
    ends = sequences.offsets[1:]
    test_users = np.flatnonzero(lengths >= 3)
    if not len(test_users):
        return None
    is_train = np.ones(len(sequences.items), dtype=bool)
    short = lengths < 3  # no leave-one-out split: nothing of theirs is training data
    is_train[np.repeat(short, lengths)] = False
    last = ends[test_users] - 1
    is_train[last] = False
    is_train[last - 1] = False
    train_ts = np.sort(np.asarray(timestamps)[is_train])
    if not len(train_ts):
        return None
    target_ts = np.asarray(timestamps)[last]
    later = len(train_ts) - np.searchsorted(train_ts, target_ts, side="right")
    share = later / len(train_ts)
    return {
        "mean": float(share.mean()),
        "median": float(np.median(share)),
        "share_above_10pct": float((share > LEAKAGE_USER_SHARE).mean()),
        "users": len(test_users),
    }


def dataset_stats(
    sequences: Sequences,
    timestamps: np.ndarray | None = None,
    counts: Mapping[str, int | None] | None = None,
    files: list[str] | None = None,
) -> dict[str, Any]:
    """Compute the statistics of prepared sequences (see the module docstring for the keys).

    Args:
        sequences: prepared sequences (every user has >= 3 items).
        timestamps: timestamp of every entry of ``sequences.items``, or ``None``.
        counts: the drop counts of :class:`~seqrec_bench.data.preprocess.Preprocessed`.
        files: raw file names.

    Example:
        >>> s = Sequences.from_lists([[1, 2, 1], [2, 3, 4, 3]], n_items=4)
        >>> st = dataset_stats(s, timestamps=np.array([5, 5, 6, 1, 2, 3, 3]))
        >>> st["tied_share"], st["test_target_tied_share"], st["test_repeat_share"]
        (0.5714285714285714, 0.5, 1.0)
        >>> st["hygiene"]["consecutive_repeats"], st["hygiene"]["duplicates_found"]
        (0, None)
    """
    given = dict(counts or {})
    found = given.get("duplicates_found")
    known: dict[str, int] = {k: int(v) for k, v in given.items() if v is not None}
    lengths = sequences.lengths
    n_users, n_items, n_inter = sequences.n_users, sequences.n_items, len(sequences.items)
    offsets, items = sequences.offsets, sequences.items
    test_pos, valid_pos = offsets[1:] - 1, offsets[1:] - 2
    user_of = sequences.user_index()

    tied_share = valid_tied = test_tied = None
    leakage = None
    if timestamps is not None and n_inter:
        leakage = leakage_stats(sequences, timestamps)
        # sorted by (user, timestamp), so equal (user, timestamp) pairs are neighbours
        same = (user_of[1:] == user_of[:-1]) & (timestamps[1:] == timestamps[:-1])
        tied = np.zeros(n_inter, dtype=bool)
        tied[1:] |= same
        tied[:-1] |= same
        tied_share = _share(tied)
        # a target's position depends on a tie iff it is tied with a neighbour in its own row
        valid_tied, test_tied = _share(tied[valid_pos]), _share(tied[test_pos])

    # occurrences of each user's target anywhere in the row, minus the target itself
    test_t, valid_t = items[test_pos], items[valid_pos]
    test_hits = np.bincount(user_of, weights=items == np.repeat(test_t, lengths), minlength=n_users)
    valid_hits = np.bincount(
        user_of, weights=items == np.repeat(valid_t, lengths), minlength=n_users
    )
    test_repeat = test_hits > 1
    valid_repeat = (valid_hits - 1 - (test_t == valid_t)) > 0  # the test item is not its input

    if n_users:
        q = np.percentile(lengths, [25, 50, 75, 90])
        length = {
            "min": int(lengths.min()),
            "p25": float(q[0]),
            "median": float(q[1]),
            "mean": float(lengths.mean()),
            "p75": float(q[2]),
            "p90": float(q[3]),
            "max": int(lengths.max()),
        }
    else:
        length = dict.fromkeys(("min", "p25", "median", "mean", "p75", "p90", "max"), 0)
    dup_dropped = known.get("duplicates_dropped", 0)
    dropped = dup_dropped + sum(
        known.get(f"records_dropped_{c}", 0) for c in ("rating", "kcore", "short")
    )
    raw_records = known.get("raw_records", n_inter)
    # consecutive repeats: an item equal to the previous one of the same user (after ordering)
    repeats = int(np.count_nonzero((items[1:] == items[:-1]) & (user_of[1:] == user_of[:-1])))
    hygiene = {
        "duplicates_found": found,
        "duplicates_dropped": dup_dropped if found is not None else None,
        "duplicates_kept": found - dup_dropped if found is not None else None,
        "duplicate_share": (found / raw_records if raw_records else 0.0)
        if found is not None
        else None,
        "consecutive_repeats": repeats,
        "consecutive_repeat_share": repeats / n_inter if n_inter else 0.0,
        "users_dropped_short": known.get("users_dropped_short", 0),
        "tied_share": tied_share,
        "test_target_tied_share": test_tied,
        "test_repeat_share": _share(test_repeat),
    }
    return {
        "users": n_users,
        "items": n_items,
        "interactions": n_inter,
        "density": n_inter / (n_users * n_items) if n_users and n_items else 0.0,
        "length": length,
        "raw_records": raw_records,
        "raw_users": known.get("raw_users", n_users),
        "raw_items": known.get("raw_items", n_items),
        "records_dropped": dropped,
        "records_dropped_rating": known.get("records_dropped_rating", 0),
        "records_dropped_kcore": known.get("records_dropped_kcore", 0),
        "records_dropped_short": known.get("records_dropped_short", 0),
        "users_dropped_rating": known.get("users_dropped_rating", 0),
        "users_dropped_kcore": known.get("users_dropped_kcore", 0),
        "users_dropped_short": known.get("users_dropped_short", 0),
        "tied_share": tied_share,
        "valid_target_tied_share": valid_tied,
        "test_target_tied_share": test_tied,
        "valid_repeat_share": _share(valid_repeat),
        "test_repeat_share": _share(test_repeat),
        "leakage": leakage,
        "files": list(files or []),
        "hygiene": hygiene,
    }


def _pct(value: float | None) -> str:
    return "n/a (no timestamps)" if value is None else f"{100 * value:.1f}%"


def _share_text(value: float) -> str:
    """A share as a percentage; a tiny but non-zero share is not shown as 0.0%."""
    return "<0.1%" if 0 < value < 0.0005 else f"{100 * value:.1f}%"


def _hygiene(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The ``hygiene`` figures of ``stats``; older statistics without them give what they hold."""
    hygiene = stats.get("hygiene")
    if isinstance(hygiene, Mapping):
        return dict(hygiene)
    return {
        "missing": True,
        "users_dropped_short": stats.get("users_dropped_short", 0),
        "tied_share": stats.get("tied_share"),
        "test_target_tied_share": stats.get("test_target_tied_share"),
        "test_repeat_share": stats.get("test_repeat_share"),
    }


def _duplicates_text(h: Mapping[str, Any]) -> str:
    found = h.get("duplicates_found")
    if h.get("missing"):
        return "duplicates: not counted (prepared before the hygiene checks)"
    if found is None:
        return "duplicates: cannot be told from repeats (no timestamps)"
    if not found:
        return "duplicates: none"
    share = _share_text(h.get("duplicate_share") or 0.0)
    if h.get("duplicates_kept"):
        return f"duplicates: {found:,} kept ({share})"
    return f"duplicates: {found:,} dropped ({share})"


def hygiene_line(stats: Mapping[str, Any]) -> str:
    """One short line of data-hygiene figures for a run's data set summary.

    Args:
        stats: the statistics of a prepared data set (:func:`dataset_stats`).

    Example:
        >>> s = Sequences.from_lists([[1, 1, 2], [2, 3, 4]], n_items=4)
        >>> counts = {"raw_records": 8, "users_dropped_short": 1,
        ...           "duplicates_found": 1, "duplicates_dropped": 1}
        >>> hygiene_line(dataset_stats(s, np.array([1, 2, 3, 1, 2, 2]), counts))
        'duplicates: 1 dropped (12.5%); consecutive repeats: 1 (16.7%); short users dropped: 1; test targets placed by a tie: 50.0%'
        >>> hygiene_line(dataset_stats(s))
        'duplicates: cannot be told from repeats (no timestamps); consecutive repeats: 1 (16.7%); short users dropped: 0; test targets placed by a tie: n/a (no timestamps)'
    """
    h = _hygiene(stats)
    parts = [_duplicates_text(h)]
    if "consecutive_repeats" in h:
        repeats = int(h["consecutive_repeats"])
        share = _share_text(h.get("consecutive_repeat_share") or 0.0)
        parts.append(f"consecutive repeats: {repeats:,} ({share})")
    parts.append(f"short users dropped: {int(h.get('users_dropped_short') or 0):,}")
    tied = h.get("test_target_tied_share")
    parts.append(
        "test targets placed by a tie: "
        + ("n/a (no timestamps)" if tied is None else _share_text(tied))
    )
    return "; ".join(parts)


def leakage_line(stats: Mapping[str, Any]) -> str | None:
    """One line of the leave-one-out leakage figures (``stats["leakage"]``) for a card.

    ``None`` when the statistics have none (data without timestamps, or prepared before the
    figures existed).

    Example:
        >>> leakage_line({"leakage": {"mean": 0.231, "median": 0.204,
        ...                           "share_above_10pct": 0.71, "users": 943}})
        "mean 23.1% of training interactions are later than the user's test target (median 20.4%); 71.0% of users have more than 10% of training from their future"
        >>> leakage_line({"leakage": None}) is None
        True
    """
    leak = stats.get("leakage")
    if not isinstance(leak, Mapping):
        return None
    return (
        f"mean {_share_text(leak['mean'])} of training interactions are later than the user's "
        f"test target (median {_share_text(leak['median'])}); "
        f"{_share_text(leak['share_above_10pct'])} of users have more than "
        f"{100 * LEAKAGE_USER_SHARE:g}% of training from their future"
    )


def hygiene_warnings(stats: Mapping[str, Any]) -> list[str]:
    """Warnings for data-hygiene figures above their thresholds (one line each; may be empty).

    * more than :data:`DUPLICATE_WARN_SHARE` of the records are exact duplicates (dropped or kept);
    * more than :data:`TIED_TARGET_WARN_SHARE` of the test targets are placed by a tie in time;
    * more than :data:`REPEAT_TARGET_WARN_SHARE` of the test targets repeat an input item.

    Example:
        >>> s = Sequences.from_lists([[1, 2, 1], [2, 3, 2]], n_items=3)
        >>> for w in hygiene_warnings(dataset_stats(s)):
        ...     print(w)
        100.0% of the test targets repeat an item of the user's own input (repeat consumption, PROTOCOL §3): scores reward re-recommending seen items; check the data for duplicate records
    """
    h = _hygiene(stats)
    out = []
    found, share = h.get("duplicates_found"), h.get("duplicate_share")
    if found and share is not None and share > DUPLICATE_WARN_SHARE:
        raw = stats.get("raw_records")
        of = f"{found:,} of {raw:,} records" if isinstance(raw, int) else f"{found:,} records"
        head = (
            f"{_share_text(share)} of the records are exact duplicates (same user, item and "
            f"timestamp; {of})"
        )
        if h.get("duplicates_kept"):
            out.append(
                f"{head}: kept: numbers are distorted (a duplicate target repeats its input: unreachable under seen-item exclusion, a free hit without it; --duplicates drop removes them)"
            )
        else:
            out.append(f"{head}: dropped, keeping the first of each; check how the log was made")
    tied = h.get("test_target_tied_share")
    if tied is not None and tied > TIED_TARGET_WARN_SHARE:
        out.append(
            f"{_share_text(tied)} of the test targets are placed by a tie (the same timestamp as "
            "another interaction of the user, so the file order decides which one is the "
            "target): results depend on the row order of the file"
        )
    repeat = h.get("test_repeat_share")
    if repeat is not None and repeat > REPEAT_TARGET_WARN_SHARE:
        out.append(
            f"{_share_text(repeat)} of the test targets repeat an item of the user's own input "
            "(repeat consumption, PROTOCOL §3): scores reward re-recommending seen items; check "
            "the data for duplicate records"
        )
    return out


def stats_table(stats: dict[str, Any], title: str | None = None) -> Table:
    """Render :func:`dataset_stats` output as a two-column rich table.

    Example:
        >>> from rich.console import Console
        >>> Console().print(stats_table(ds.stats, title=ds.name))  # doctest: +SKIP
    """
    from rich.table import Table

    length = stats["length"]
    h = _hygiene(stats)
    dup_dropped = h.get("duplicates_dropped") or 0
    rows = [
        ("users", f"{stats['users']:,}"),
        ("items", f"{stats['items']:,}"),
        ("interactions", f"{stats['interactions']:,}"),
        ("density", f"{100 * stats['density']:.3f}%"),
        (
            "sequence length",
            f"min {length['min']}  p25 {length['p25']:g}  median {length['median']:g}  "
            f"mean {length['mean']:.1f}  p75 {length['p75']:g}  p90 {length['p90']:g}  "
            f"max {length['max']}",
        ),
        (
            "raw records / users / items",
            f"{stats['raw_records']:,} / {stats['raw_users']:,} / {stats['raw_items']:,}",
        ),
        (
            "records dropped",
            f"{stats['records_dropped']:,} ("
            + (f"duplicates {dup_dropped:,}, " if dup_dropped else "")
            + f"min rating {stats['records_dropped_rating']:,}, "
            f"k-core {stats['records_dropped_kcore']:,}, short users "
            f"{stats['records_dropped_short']:,})",
        ),
        (
            "users dropped",
            f"{stats['users_dropped_short']:,} with < 3 interactions, "
            f"{stats['users_dropped_kcore']:,} by k-core, "
            f"{stats['users_dropped_rating']:,} by min rating",
        ),
        ("interactions tied on (user, time)", _pct(stats["tied_share"])),
        (
            "targets placed by a tie (valid / test)",
            "n/a (no timestamps)"
            if stats["test_target_tied_share"] is None
            else f"{_pct(stats['valid_target_tied_share'])} / "
            f"{_pct(stats['test_target_tied_share'])}",
        ),
        (
            "targets repeating an input item (valid / test)",
            f"{_pct(stats['valid_repeat_share'])} / {_pct(stats['test_repeat_share'])}",
        ),
        ("exact duplicate records (user, item, time)", _duplicates_text(h).split(": ", 1)[1]),
        (
            "consecutive repeats of an item",
            "-"
            if "consecutive_repeats" not in h
            else f"{int(h['consecutive_repeats']):,} "
            f"({_share_text(h.get('consecutive_repeat_share') or 0.0)})",
        ),
        ("files", ", ".join(stats["files"]) or "-"),
    ]
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table


def render_stats(dataset: PreparedDataset, console: Console | None = None) -> None:
    """Print a data set's name, checksum, preprocessing options and statistics table.

    This is what ``seqbench prepare`` shows.

    Example:
        >>> render_stats(load_dataset("synthetic"))  # doctest: +SKIP
    """
    from rich.console import Console

    console = console or Console()
    options = ", ".join(
        f"{k}={v}" for k, v in dataset.options.items() if k != "synthetic" and v is not None
    )
    console.print(f"[bold]{dataset.name}[/]  checksum {dataset.checksum[:16]}")
    console.print(f"preprocessing: {options or 'none (only users with < 3 interactions dropped)'}")
    if "synthetic" in dataset.options:
        params = ", ".join(f"{k}={v}" for k, v in dataset.options["synthetic"].items())
        console.print(f"generator: {params}")
    console.print(stats_table(dataset.stats, title=f"{dataset.name} statistics"))
    console.print(f"hygiene: {hygiene_line(dataset.stats)}", markup=False, highlight=False)
    leakage = leakage_line(dataset.stats)
    if leakage is not None:
        console.print(f"leakage (leave-one-out): {leakage}", markup=False, highlight=False)
    for warning in hygiene_warnings(dataset.stats):
        console.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)
