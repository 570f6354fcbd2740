"""Data hygiene: exact duplicates dropped (or kept) and counted, consecutive repeats, tie shares,
and the one-line summary and warnings a run prints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from seqrec_bench.data import (
    DatasetError,
    Interactions,
    Sequences,
    dataset_stats,
    hygiene_line,
    hygiene_warnings,
    load_dataset,
    preprocess_interactions,
    render_stats,
)
from seqrec_bench.data.stats import (
    DUPLICATE_WARN_SHARE,
    REPEAT_TARGET_WARN_SHARE,
    TIED_TARGET_WARN_SHARE,
)


def log_lines(n_users: int = 20, per_user: int = 6, seed: int = 3) -> list[str]:
    """A log with distinct timestamps per user (no ties) and no duplicate records."""
    rng = np.random.default_rng(seed)
    lines = []
    for u in range(n_users):
        for k, i in enumerate(rng.choice(np.arange(1, 40), size=per_user, replace=False)):
            lines.append(f"{u},{i},{1_000_000 + 10 * k + u}")
    return lines


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("user,item,timestamp\n" + "\n".join(lines) + "\n")
    return path


def test_every_row_twice_drop_gives_the_log_once(tmp_path: Path) -> None:
    lines = log_lines()
    once = load_dataset(write(tmp_path / "once.csv", lines), progress=False, cache=False)
    twice_path = write(tmp_path / "twice.csv", lines + lines)
    dropped = load_dataset(twice_path, progress=False, cache=False)
    assert dropped.sequences.to_lists() == once.sequences.to_lists()
    assert dropped.vocab.item_ids.tolist() == once.vocab.item_ids.tolist()
    h = dropped.stats["hygiene"]
    assert h["duplicates_found"] == h["duplicates_dropped"] == len(lines)
    assert h["duplicates_kept"] == 0 and h["duplicate_share"] == 0.5
    assert h["consecutive_repeats"] == 0
    assert dropped.stats["records_dropped"] == len(lines)
    assert dropped.stats["raw_records"] - dropped.stats["records_dropped"] == len(lines)
    assert once.stats["hygiene"]["duplicates_found"] == 0


def test_every_row_twice_keep_gives_doubled_sequences(tmp_path: Path) -> None:
    lines = log_lines()
    once = load_dataset(write(tmp_path / "once.csv", lines), progress=False, cache=False)
    path = write(tmp_path / "twice.csv", lines + lines)
    kept = load_dataset(path, duplicates="keep", progress=False, cache=False)
    assert kept.options["duplicates"] == "keep"
    assert kept.sequences.to_lists() == [
        np.repeat(s, 2).tolist() for s in once.sequences.to_lists()
    ]
    h = kept.stats["hygiene"]
    assert h["duplicates_found"] == h["duplicates_kept"] == len(lines)
    assert h["duplicates_dropped"] == 0
    assert h["consecutive_repeats"] == len(lines)
    assert kept.stats["test_repeat_share"] == 1.0
    # the same file with drop and keep are two cache entries, never confused
    a = load_dataset(path, progress=False)
    b = load_dataset(path, duplicates="keep", progress=False)
    assert a.key != b.key
    assert len(a.sequences.items) == len(lines) and len(b.sequences.items) == 2 * len(lines)


def test_without_duplicates_drop_and_keep_are_identical(tmp_path: Path) -> None:
    # u.data style (tab, ties in time) and a csv log: preprocessing is unchanged by the option
    rng = np.random.default_rng(1)
    udata = [
        f"{u}\t{i}\t{rng.integers(1, 6)}\t{880000000 + 10 * (k // 2)}"
        for u in range(1, 15)
        for k, i in enumerate(rng.choice(np.arange(1, 30), size=7, replace=False))
    ]
    path = tmp_path / "u.data"
    path.write_text("\n".join(udata) + "\n")
    for p in (path, write(tmp_path / "log.csv", log_lines())):
        drop = load_dataset(p, progress=False, cache=False)
        keep = load_dataset(p, duplicates="keep", progress=False, cache=False)
        assert drop.sequences.to_lists() == keep.sequences.to_lists()
        assert drop.vocab.user_ids.tolist() == keep.vocab.user_ids.tolist()
        assert drop.stats["hygiene"]["duplicates_found"] == 0
        without = {k: v for k, v in drop.stats.items() if k != "hygiene"}
        assert without == {k: v for k, v in keep.stats.items() if k != "hygiene"}


def test_duplicates_are_same_user_item_and_time() -> None:
    # (1, 10, 5) twice is a duplicate; (1, 10, 6) is a repeat at another time, kept
    recs = Interactions(
        users=np.array([1, 1, 1, 1, 1]),
        items=np.array([10, 10, 10, 20, 30]),
        timestamps=np.array([5, 5, 6, 7, 8]),
    )
    out = preprocess_interactions(recs)
    assert out.counts["duplicates_found"] == out.counts["duplicates_dropped"] == 1
    assert out.sequences.to_lists() == [[1, 1, 2, 3]]
    st = dataset_stats(out.sequences, out.timestamps, out.counts)
    assert st["hygiene"]["consecutive_repeats"] == 1
    assert st["hygiene"]["consecutive_repeat_share"] == 0.25


def test_bogus_duplicates_is_one_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", log_lines())
    with pytest.raises(DatasetError) as info:
        load_dataset(path, duplicates="bogus", progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert "'bogus'" in message and "'drop'" in message and "'keep'" in message
    with pytest.raises(DatasetError, match="'drop'"):
        preprocess_interactions(
            Interactions(users=np.array([1]), items=np.array([1])), duplicates="Drop"
        )


def test_sequences_format_counts_repeats_only(tmp_path: Path) -> None:
    path = tmp_path / "seqs.txt"
    path.write_text("u1 a a b c\nu2 b c d\nu3 a b b b\n")
    ds = load_dataset(path, format="sequences", progress=False, cache=False)
    h = ds.stats["hygiene"]
    assert h["duplicates_found"] is None and h["duplicates_dropped"] is None
    assert h["consecutive_repeats"] == 3
    line = hygiene_line(ds.stats)
    assert line.startswith("duplicates: cannot be told from repeats (no timestamps)")
    assert "consecutive repeats: 3 (27.3%)" in line
    assert "test targets placed by a tie: n/a (no timestamps)" in line


def stats_with(
    *, found: int = 0, kept: bool = False, tied: float = 0.0, repeat: float = 0.0
) -> dict:
    """Statistics with the given duplicate count (of 1000 raw records), tie and repeat shares."""
    seqs = Sequences.from_lists([[1, 2, 3]], n_items=3)
    counts = {
        "raw_records": 1000,
        "duplicates_found": found,
        "duplicates_dropped": 0 if kept else found,
    }
    st = dataset_stats(seqs, np.array([1, 2, 3]), counts)
    st["hygiene"]["test_target_tied_share"] = tied
    st["hygiene"]["test_repeat_share"] = repeat
    return st


def test_no_warnings_at_or_below_thresholds() -> None:
    st = stats_with(
        found=int(DUPLICATE_WARN_SHARE * 1000),
        tied=TIED_TARGET_WARN_SHARE,
        repeat=REPEAT_TARGET_WARN_SHARE,
    )
    assert hygiene_warnings(st) == []
    assert hygiene_warnings(stats_with()) == []


def test_duplicate_warning_dropped_and_kept() -> None:
    (dropped,) = hygiene_warnings(stats_with(found=11))
    assert dropped == (
        "1.1% of the records are exact duplicates (same user, item and timestamp; 11 of 1,000 "
        "records): dropped, keeping the first of each; check how the log was made"
    )
    (kept,) = hygiene_warnings(stats_with(found=500, kept=True))
    assert kept.startswith("50.0% of the records are exact duplicates")
    assert "kept: numbers are distorted" in kept and "--duplicates drop" in kept


def test_tie_and_repeat_warnings() -> None:
    tie, repeat = hygiene_warnings(stats_with(tied=0.06, repeat=0.51))
    assert tie.startswith("6.0% of the test targets are placed by a tie")
    assert repeat.startswith("51.0% of the test targets repeat an item of the user's own input")


def test_hygiene_line() -> None:
    assert hygiene_line(stats_with(found=12)) == (
        "duplicates: 12 dropped (1.2%); consecutive repeats: 0 (0.0%); short users dropped: 0; "
        "test targets placed by a tie: 0.0%"
    )
    assert hygiene_line(stats_with(found=12, kept=True)).startswith("duplicates: 12 kept (1.2%)")
    assert hygiene_line(stats_with()).startswith("duplicates: none;")


def test_statistics_without_hygiene_still_give_a_line() -> None:
    # a dataset record written before the hygiene figures existed
    st = {"users_dropped_short": 7, "test_target_tied_share": 0.003, "test_repeat_share": 0.9}
    assert hygiene_line(st) == (
        "duplicates: not counted (prepared before the hygiene checks); short users dropped: 7; "
        "test targets placed by a tie: 0.3%"
    )
    assert len(hygiene_warnings(st)) == 1


def test_prepare_shows_hygiene(tmp_path: Path) -> None:
    lines = log_lines()
    ds = load_dataset(write(tmp_path / "twice.csv", lines + lines), progress=False)
    console = Console(record=True, width=200)
    render_stats(ds, console)
    text = console.export_text()
    assert "exact duplicate records (user, item, time)" in text
    assert f"{len(lines)} dropped (50.0%)" in text
    assert "consecutive repeats of an item" in text
    assert f"hygiene: duplicates: {len(lines)} dropped (50.0%)" in text
    assert "warning: 50.0% of the records are exact duplicates" in text
    assert "duplicates=drop" in text  # the option is listed with the preprocessing
