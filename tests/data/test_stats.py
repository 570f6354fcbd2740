"""Dataset statistics on a hand-worked case, and their table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from seqrec_bench.data import Sequences, dataset_stats, render_stats, stats_table
from seqrec_bench.data.dataset import PreparedDataset
from seqrec_bench.data.sequences import Vocabulary


@pytest.fixture
def hand_worked() -> dict:
    # user 0: items 1 2 1 at t = 5 5 6      user 1: items 2 3 2 4 at t = 1 2 3 3
    seqs = Sequences.from_lists([[1, 2, 1], [2, 3, 2, 4]], n_items=4)
    ts = np.array([5, 5, 6, 1, 2, 3, 3])
    counts = {
        "raw_records": 10,
        "raw_users": 4,
        "raw_items": 5,
        "records_dropped_rating": 1,
        "records_dropped_kcore": 0,
        "records_dropped_short": 2,
        "users_dropped_rating": 0,
        "users_dropped_kcore": 0,
        "users_dropped_short": 2,
    }
    return dataset_stats(seqs, ts, counts, ["log.csv"])


def test_sizes_and_lengths(hand_worked: dict) -> None:
    st = hand_worked
    assert (st["users"], st["items"], st["interactions"]) == (2, 4, 7)
    assert st["density"] == pytest.approx(7 / 8)
    assert st["length"] == {
        "min": 3,
        "p25": 3.25,
        "median": 3.5,
        "mean": 3.5,
        "p75": 3.75,
        "p90": 3.9,
        "max": 4,
    }


def test_drop_counts(hand_worked: dict) -> None:
    assert hand_worked["records_dropped"] == 3
    assert hand_worked["users_dropped_short"] == 2
    assert hand_worked["raw_records"] == 10
    assert hand_worked["files"] == ["log.csv"]


def test_ties(hand_worked: dict) -> None:
    # tied: user 0 positions 0, 1 (t=5); user 1 positions 2, 3 (t=3) -> 4 of 7
    assert hand_worked["tied_share"] == pytest.approx(4 / 7)
    # validation targets: user 0 item at t=5 (tied with the first) ; user 1 at t=3 (tied) -> 2/2
    assert hand_worked["valid_target_tied_share"] == 1.0
    # test targets: user 0 at t=6 (alone); user 1 at t=3 (tied) -> 1/2
    assert hand_worked["test_target_tied_share"] == 0.5


def test_repeats(hand_worked: dict) -> None:
    # validation: user 0 target 2, input [1] -> no; user 1 target 2, input [2, 3] -> yes
    assert hand_worked["valid_repeat_share"] == 0.5
    # test: user 0 target 1, input [1, 2] -> yes; user 1 target 4, input [2, 3, 2] -> no
    assert hand_worked["test_repeat_share"] == 0.5


def test_no_timestamps_means_no_tie_figures() -> None:
    st = dataset_stats(Sequences.from_lists([[1, 2, 3]], n_items=3))
    assert st["tied_share"] is None and st["test_target_tied_share"] is None
    assert st["users_dropped_short"] == 0


def test_json_serialisable(hand_worked: dict) -> None:
    assert json.loads(json.dumps(hand_worked)) == hand_worked


def test_table_renders(hand_worked: dict) -> None:
    console = Console(record=True, width=120)
    console.print(stats_table(hand_worked, title="demo"))
    text = console.export_text()
    assert "demo" in text and "57.1%" in text and "log.csv" in text
    assert "2 with < 3 interactions" in text

    ds = PreparedDataset(
        name="demo",
        sequences=Sequences.from_lists([[1, 2, 3]], n_items=3),
        vocab=Vocabulary(user_ids=np.array([1]), item_ids=np.array([1, 2, 3])),
        checksum="ab" * 32,
        options={"min_rating": None},
        stats=dataset_stats(Sequences.from_lists([[1, 2, 3]], n_items=3)),
    )
    console = Console(record=True, width=120)
    render_stats(ds, console)
    assert "n/a (no timestamps)" in console.export_text()
