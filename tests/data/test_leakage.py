"""Leave-one-out leakage (PROTOCOL §2b): training interactions later than a user's test target."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from seqrec_bench.data import (
    Sequences,
    dataset_stats,
    leakage_line,
    leakage_stats,
    load_dataset,
    render_stats,
)


def brute_force(seqs: Sequences, ts: np.ndarray) -> list[float]:
    """The share per test user, by a double loop over users and training interactions."""
    train_ts = [
        float(t) for u in range(seqs.n_users) for t in ts[seqs.offsets[u] : seqs.offsets[u + 1] - 2]
    ]
    shares = []
    for u in range(seqs.n_users):
        target = ts[seqs.offsets[u + 1] - 1]
        later = sum(1 for t in train_ts if t > target)  # strictly later: a tie is not later
        shares.append(later / len(train_ts))
    return shares


def test_hand_worked_with_ties():
    # training times: user 0 {1, 2}, user 1 {3, 3}, user 2 {6}; test targets at 3, 5, 8
    seqs = Sequences.from_lists([[1, 2, 3, 4], [2, 3, 4, 5], [5, 1, 2]], n_items=5)
    ts = np.array([1, 2, 3, 3, 3, 3, 4, 5, 6, 7, 8])
    leak = leakage_stats(seqs, ts)
    # user 0 (target 3): later {6} = 1/5 (user 1's 3, 3 tie with it: not later, else 3/5);
    # user 1 (target 5): {6} = 1/5; user 2 (target 8): 0
    assert brute_force(seqs, ts) == [0.2, 0.2, 0.0]
    assert leak == pytest.approx(
        {"mean": 0.4 / 3, "median": 0.2, "share_above_10pct": 2 / 3, "users": 3}
    )


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_on_random_logs_with_ties(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 9, 40)
    ts = np.concatenate([np.sort(rng.integers(0, 15, n)) for n in lengths])  # many ties
    items = rng.integers(1, 21, int(lengths.sum()))
    seqs = Sequences.from_lengths(items, lengths, 20)
    shares = np.array(brute_force(seqs, ts))
    leak = leakage_stats(seqs, ts)
    assert leak is not None
    assert leak["mean"] == pytest.approx(shares.mean())
    assert leak["median"] == pytest.approx(np.median(shares))
    assert leak["share_above_10pct"] == pytest.approx((shares > 0.1).mean())
    assert leak["users"] == 40
    assert 0.0 <= leak["mean"] <= 1.0
    # float timestamps give the same figures
    assert leakage_stats(seqs, ts.astype(np.float64) / 7) == pytest.approx(leak)


def test_in_the_dataset_statistics_and_absent_without_timestamps():
    seqs = Sequences.from_lists([[1, 2, 3], [1, 2, 3, 4]], n_items=4)
    ts = np.array([1, 3, 4, 5, 6, 8, 9])
    stats = dataset_stats(seqs, ts)
    assert stats["leakage"] == leakage_stats(seqs, ts)
    json.dumps(stats)  # plain JSON
    assert dataset_stats(seqs)["leakage"] is None
    assert leakage_line(dataset_stats(seqs)) is None
    assert leakage_line({}) is None  # statistics prepared before the figures existed


def test_leakage_line():
    line = leakage_line(
        {"leakage": {"mean": 0.231, "median": 0.204, "share_above_10pct": 0.71, "users": 9}}
    )
    assert line == (
        "mean 23.1% of training interactions are later than the user's test target "
        "(median 20.4%); 71.0% of users have more than 10% of training from their future"
    )


def test_prepare_shows_the_line_and_old_caches_are_recomputed(
    tmp_path: Path, isolated_cache: Path
) -> None:
    path = tmp_path / "log.csv"
    # user u's interactions at times 10u .. 10u + 3: later users' training is in the future
    path.write_text(
        "user,item,timestamp\n"
        + "".join(f"u{u},i{(u + k) % 7},{10 * u + k}\n" for u in range(6) for k in range(4))
    )
    ds = load_dataset(path, progress=False)
    leak = ds.stats["leakage"]
    assert leak is not None and leak["users"] == 6 and leak["mean"] > 0
    console = Console(record=True, width=300)
    render_stats(ds, console)
    assert f"leakage (leave-one-out): {leakage_line(ds.stats)}" in console.export_text()

    # a cache entry written before the leakage figures existed is prepared again
    (meta,) = (isolated_cache / "prepared").glob("*.json")
    old = json.loads(meta.read_text())
    del old["stats"]["leakage"]
    meta.write_text(json.dumps(old))
    again = load_dataset(path, progress=False)
    assert again.stats["leakage"] == leak
    assert "leakage" in json.loads(meta.read_text())["stats"]

    # a one-line-per-user file has no timestamps: no figures, no line
    seq_path = tmp_path / "seqs.txt"
    seq_path.write_text("".join(f"u{u} 1 2 3 {u + 4}\n" for u in range(5)))
    plain = load_dataset(seq_path, format="sequences", progress=False)
    assert plain.stats["leakage"] is None
    console = Console(record=True, width=300)
    render_stats(plain, console)
    assert "leakage" not in console.export_text()
