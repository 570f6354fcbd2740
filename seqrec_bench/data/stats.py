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
* ``files``: the raw file name(s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from seqrec_bench.data.sequences import Sequences

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from seqrec_bench.data.dataset import PreparedDataset

__all__ = ["dataset_stats", "stats_table", "render_stats"]


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if len(mask) else 0.0


def dataset_stats(
    sequences: Sequences,
    timestamps: np.ndarray | None = None,
    counts: dict[str, int] | None = None,
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
    """
    counts = dict(counts or {})
    lengths = sequences.lengths
    n_users, n_items, n_inter = sequences.n_users, sequences.n_items, len(sequences.items)
    offsets, items = sequences.offsets, sequences.items
    test_pos, valid_pos = offsets[1:] - 1, offsets[1:] - 2
    user_of = sequences.user_index()

    tied_share = valid_tied = test_tied = None
    if timestamps is not None and n_inter:
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
    dropped = sum(counts.get(f"records_dropped_{c}", 0) for c in ("rating", "kcore", "short"))
    return {
        "users": n_users,
        "items": n_items,
        "interactions": n_inter,
        "density": n_inter / (n_users * n_items) if n_users and n_items else 0.0,
        "length": length,
        "raw_records": counts.get("raw_records", n_inter),
        "raw_users": counts.get("raw_users", n_users),
        "raw_items": counts.get("raw_items", n_items),
        "records_dropped": dropped,
        "records_dropped_rating": counts.get("records_dropped_rating", 0),
        "records_dropped_kcore": counts.get("records_dropped_kcore", 0),
        "records_dropped_short": counts.get("records_dropped_short", 0),
        "users_dropped_rating": counts.get("users_dropped_rating", 0),
        "users_dropped_kcore": counts.get("users_dropped_kcore", 0),
        "users_dropped_short": counts.get("users_dropped_short", 0),
        "tied_share": tied_share,
        "valid_target_tied_share": valid_tied,
        "test_target_tied_share": test_tied,
        "valid_repeat_share": _share(valid_repeat),
        "test_repeat_share": _share(test_repeat),
        "files": list(files or []),
    }


def _pct(value: float | None) -> str:
    return "n/a (no timestamps)" if value is None else f"{100 * value:.1f}%"


def stats_table(stats: dict[str, Any], title: str | None = None) -> Table:
    """Render :func:`dataset_stats` output as a two-column rich table.

    Example:
        >>> from rich.console import Console
        >>> Console().print(stats_table(ds.stats, title=ds.name))  # doctest: +SKIP
    """
    from rich.table import Table

    length = stats["length"]
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
            f"{stats['records_dropped']:,} (min rating {stats['records_dropped_rating']:,}, "
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
