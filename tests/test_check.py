"""seqbench check: the shuffle control and the sequential-signal diagnostics."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from typer.testing import CliRunner

from seqrec_bench.check import render_check, sequential_check
from seqrec_bench.cli import app
from seqrec_bench.data import Sequences, load_dataset
from seqrec_bench.data.controls import shuffle_within_users
from seqrec_bench.data.dataset import PreparedDataset
from seqrec_bench.data.sequences import Vocabulary


def test_shuffle_keeps_each_users_items_and_changes_their_order(rng):
    seqs = Sequences.from_lists(
        [list(rng.integers(1, 50, size=n)) for n in rng.integers(3, 30, size=200)], n_items=50
    )
    out = shuffle_within_users(seqs, seed=3)
    assert np.array_equal(out.offsets, seqs.offsets)
    assert all(sorted(a) == sorted(b) for a, b in zip(out.to_lists(), seqs.to_lists(), strict=True))
    assert not np.array_equal(out.items, seqs.items)
    assert np.array_equal(shuffle_within_users(seqs, seed=3).items, out.items)  # seeded


def _dataset(seqs, name):
    vocab = Vocabulary(np.arange(seqs.n_users), np.arange(1, seqs.n_items + 1))
    return PreparedDataset(name, seqs, vocab, checksum="x", stats={})


def test_order_is_detected_where_it_exists_and_not_where_it_does_not(rng):
    cyclic = Sequences.from_lists(
        [[(s + t) % 30 + 1 for t in range(12)] for s in rng.integers(0, 30, size=150)], n_items=30
    )
    ordered = sequential_check(_dataset(cyclic, "cycles"))
    assert (
        ordered.shuffle_p < 1e-6
        and ordered.scores["markov"] > 2 * ordered.scores["markov, shuffled order"]
    )
    # the same items in a random order per user: nothing for the chain to lose
    orderless = Sequences.from_lists(
        [list(rng.permutation(30)[:12] + 1) for _ in range(300)], n_items=30
    )
    flat = sequential_check(_dataset(orderless, "bags"))
    console = Console(record=True, width=200)
    render_check(flat, console)
    assert flat.shuffle_p > 0.01 and "no significant loss" in console.export_text()


def test_check_command_runs_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["check", "synthetic", "--synthetic", "n_users=500"])
    assert result.exit_code == 0, result.output
    assert "markov, shuffled order" in result.output and "leakage" in result.output
    assert load_dataset("synthetic", synthetic={"n_users": 500}).stats  # cached by the check


def test_timestamped_data_gets_time_aware_popularity_beside_plain(rng):
    # a trend: early users favour items 1-5, late users items 6-10; plain popularity mixes them
    rows = [list(rng.integers(1, 6, size=8)) for _ in range(60)]
    rows += [list(rng.integers(6, 11, size=8)) for _ in range(60)]
    seqs = Sequences.from_lists(rows, n_items=10)
    times = np.repeat(np.arange(120) * 86_400 * 30, 8) + np.tile(np.arange(8) * 3600, 120)
    vocab = _dataset(seqs, "trend").vocab
    dataset = PreparedDataset("trend", seqs, vocab, "x", {}, {}, timestamps=times)
    result = sequential_check(dataset)
    recent = result.scores["recentpop (window chosen on validation)"]
    assert recent > result.scores["pop"]
    console = Console(record=True, width=200, file=open("/dev/null", "w"))
    render_check(result, console)
    lines = console.export_text()
    assert "time-aware vs plain popularity" in lines
    # without timestamps there is no such row
    assert not any(k.startswith("recentpop") for k in sequential_check(_dataset(seqs, "t")).scores)
