"""Plan -> cells -> executor -> store, end to end: results that cannot mix or tear."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from seqrec_bench.config import DatasetSpec, ModelSpec, RunConfig
from seqrec_bench.errors import ResultsError
from seqrec_bench.plan import build_plan, plan_status
from seqrec_bench.report.runs import render_folder
from seqrec_bench.runner import run_experiment
from seqrec_bench.store import ResultsDir

SMALL = {"synthetic": {"n_users": 150, "n_items": 40, "mean_length": 8, "p_successor": 0.4}}


@pytest.fixture
def consoles(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")
    out, log = Console(record=True, width=200), Console(record=True, width=200)
    return out, log


def run_cfg(out, models, seeds=(0,), options=SMALL, **kw):
    return RunConfig(
        datasets=[DatasetSpec("synthetic", options=options)],
        models=models,
        seeds=list(seeds),
        output=out,
        ks=[5, 10],
        **kw,
    )


def ranks_of(out):
    return {
        (c.dataset, c.label, c.seed, c.identity.variant): c.ranks.tolist()
        for c in ResultsDir(out).scan()[0]
    }


def test_a_changed_config_never_overwrites_and_never_averages(consoles, tmp_path):
    out = tmp_path / "mix"
    run_experiment(run_cfg(out, [ModelSpec("markov", "markov")], seeds=(0, 1)), *consoles)
    first = ranks_of(out)
    changed = ModelSpec(
        "markov", "markov", set_options={"alpha": "5", "select_on_validation": "false"}
    )
    run_experiment(run_cfg(out, [changed], seeds=(0,)), *consoles)
    cells = ResultsDir(out).scan()[0]
    assert len(cells) == 3  # the old seeds 0 and 1 are kept beside the new seed 0
    assert all(ranks_of(out)[key] == ranks for key, ranks in first.items())
    # the run's own table holds its cell only: one seed, no average with the old seed 1
    table = json.loads((out / "table.json").read_text())
    assert table["card"]["seeds"] == "0"
    # `seqbench table` re-renders the last run (the new config) ...
    assert render_folder(out).summary()["models"]["markov"]["NDCG@10"] == pytest.approx(
        json.loads((out / "summary.json").read_text())["models"]["markov"]["NDCG@10"]
    )
    # ... and every markov cell of the folder mixes two configs: one clear line, no average
    with pytest.raises(ResultsError) as info:
        render_folder(out, models=["markov"])
    msg = str(info.value)
    assert "markov on synthetic" in msg and "alpha" in msg and "select_on_validation" in msg
    assert "\n" not in msg
    # choosing seeds, or the variant, of one config renders
    render_folder(out, seeds=[1])
    old_variant = next(c.identity.variant for c in cells if c.seed == 1)
    old = render_folder(out, variant=old_variant[:8])
    assert old.card["seeds"] == "0, 1"  # the old config's two seeds, together


def test_a_table_never_compares_protocols(consoles, tmp_path):
    out = tmp_path / "proto"
    wide = {"synthetic": {**SMALL["synthetic"], "n_items": 200}}
    run_experiment(run_cfg(out, [ModelSpec("pop", "pop")], options=wide), *consoles)
    sampled = run_cfg(
        out, [ModelSpec("markov", "markov")], options=wide, protocol="sampled-uniform-100"
    )
    run_experiment(sampled, *consoles)
    with pytest.raises(ResultsError, match="different protocols"):
        render_folder(out, models=["pop", "markov"])
    render_folder(out, models=["pop"])


def test_table_rerenders_what_the_last_run_printed(consoles, tmp_path):
    """A stray cell (a smoke test's pop) must not join the table, nor reorder its rows."""
    out = tmp_path / "last"
    run_experiment(run_cfg(out, [ModelSpec("pop", "pop")]), *consoles)
    grid = run_cfg(out, [ModelSpec("markov", "markov"), ModelSpec("bigram", "markov")])
    grid.test, grid.reference = "wilcoxon", "bigram"
    run_experiment(grid, *consoles)
    log = Console(record=True, width=250)
    table = render_folder(out, log=log)
    assert list(table.models) == ["markov", "bigram"]  # the run's rows, in its order, without pop
    assert table.summary() == json.loads((out / "summary.json").read_text())
    assert "not in its last run's table" in " ".join(log.export_text().split())
    assert list(render_folder(out, models=["pop", "markov"]).models) == ["pop", "markov"]


def test_torn_cell_is_reported_then_exactly_it_is_retrained(consoles, tmp_path):
    out = tmp_path / "torn"
    cfg = run_cfg(out, [ModelSpec("markov", "markov"), ModelSpec("pop", "pop")], seeds=(0, 1))
    run_experiment(cfg, *consoles)
    before = ranks_of(out)
    table_before = (out / "table.md").read_text()
    torn = next(c for c in ResultsDir(out).scan()[0] if c.label == "markov" and c.seed == 1)
    (torn.path / "cell.json").write_text((torn.path / "cell.json").read_text()[:40])
    out_console, log = Console(record=True, width=200), Console(record=True, width=200)
    render_folder(out, console=out_console, log=log)
    warned = log.export_text()
    assert "warning" in warned and str(torn.path / "cell.json") in " ".join(warned.split())
    assert "pop" in out_console.export_text()
    plan = build_plan(cfg)
    status = plan_status(plan, ResultsDir(out))
    assert [t.identity.describe() for t in status.todo] == ["synthetic/markov seed 1"]
    run_experiment(cfg, *consoles)
    assert ranks_of(out) == before
    strip = lambda t: [ln for ln in t.splitlines() if "seqrec_bench" not in ln]  # noqa: E731
    assert strip((out / "table.md").read_text()) == strip(table_before)


def test_dry_run_lists_complete_to_run_and_stale(consoles, tmp_path):
    out = tmp_path / "dry"
    run_experiment(
        run_cfg(out, [ModelSpec("markov", "markov"), ModelSpec("pop", "pop")]), *consoles
    )
    changed = ModelSpec("markov", "markov", set_options={"alpha": "5"})
    printed = Console(record=True, width=250)
    cfg = run_cfg(out, [changed, ModelSpec("pop", "pop")], seeds=(0, 1))
    run_experiment(cfg, printed, consoles[1], dry_run=True)
    text = " ".join(printed.export_text().split())
    assert "4 cells: 1 complete, 3 to run" in text
    assert "stale:" in text and "differs in alpha" in text and "never averaged" in text
    assert len(ResultsDir(out).scan()[0]) == 2  # nothing was trained


def test_failed_cell_is_reported_and_the_rest_of_the_grid_runs(consoles, tmp_path):
    from seqrec_bench.runner import CellsFailedError

    out = tmp_path / "fail"
    bad = ModelSpec(
        "transformer",
        "transformer",
        {"lr": 1e9, "hidden": 8, "max_len": 8, "max_epochs": 2, "n_blocks": 1},
    )
    cfg = run_cfg(out, [bad, ModelSpec("pop", "pop")])
    with pytest.raises(CellsFailedError) as info:
        run_experiment(cfg, *consoles)
    assert "synthetic/transformer seed 0" in str(info.value)
    assert [c.label for c in ResultsDir(out).scan()[0]] == ["pop"]


def test_training_statistics_choose_the_defaults(consoles, tmp_path):
    """Data-set-family defaults come from the training split, never from held-out items."""
    cfg = run_cfg(tmp_path / "o", [ModelSpec("pop", "pop")])
    plan = build_plan(cfg)
    data = plan.data["synthetic"]
    lengths = data.split.train.lengths
    assert data.train_stats["length"]["median"] == float(np.median(lengths))


@pytest.mark.slow
def test_jobs_2_gives_the_same_ranks_as_jobs_1(consoles, tmp_path):
    tiny = {"hidden": 8, "max_len": 8, "max_epochs": 3, "n_blocks": 1}
    models = [ModelSpec("transformer", "transformer", tiny), ModelSpec("markov", "markov")]
    one, two = tmp_path / "one", tmp_path / "two"
    run_experiment(run_cfg(one, models, seeds=(0, 1), threads=1), *consoles)
    run_experiment(run_cfg(two, models, seeds=(0, 1), threads=1, jobs=2), *consoles)
    assert ranks_of(one) == ranks_of(two) and len(ranks_of(one)) == 4
    a = json.loads((one / "summary.json").read_text())
    b = json.loads((two / "summary.json").read_text())
    assert a["comparisons"] == b["comparisons"]


def _seqbench(*args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "seqrec_bench.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


SMALL_FLAGS = [
    "--dataset", "synthetic", "--synthetic", "n_users=150", "--synthetic", "n_items=40",
    "--synthetic", "mean_length=8", "--k", "5,10",
]  # fmt: skip


@pytest.mark.slow
def test_two_commands_on_one_folder_lose_nothing(tmp_path):
    env = {**os.environ, "SEQBENCH_DATA": str(tmp_path / "cache"), "SEQBENCH_PROGRESS": "0"}
    out = tmp_path / "both"
    args = ["run", "--models", "markov,pop", *SMALL_FLAGS, "-o", str(out)]
    procs = [_seqbench(*args, "--seeds", s, env=env) for s in ("0", "1")]
    for p in procs:
        _, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
    seq = tmp_path / "seq"
    for s in ("0", "1"):
        p = _seqbench(
            "run", "--models", "markov,pop", *SMALL_FLAGS, "-o", str(seq), "--seeds", s, env=env
        )
        assert p.wait(timeout=300) == 0
    assert {k[1:3]: v for k, v in ranks_of(out).items()} == {
        k[1:3]: v for k, v in ranks_of(seq).items()
    }
    assert not list(out.rglob("*.part"))
    a = render_folder(out).summary()
    b = render_folder(seq).summary()
    assert a["comparisons"] == b["comparisons"] and a["models"] == b["models"]


@pytest.mark.slow
def test_sigkill_of_the_driver_mid_grid_then_resume(tmp_path):
    env = {**os.environ, "SEQBENCH_DATA": str(tmp_path / "cache"), "SEQBENCH_PROGRESS": "0"}
    out, ref = tmp_path / "killed", tmp_path / "ref"
    tiny = [
        "--set",
        "transformer.hidden=8",
        "--set",
        "transformer.max_len=8",
        "--set",
        "transformer.max_epochs=4",
    ]
    args = [
        "run",
        "--models",
        "transformer,markov",
        *SMALL_FLAGS,
        *tiny,
        "--seeds",
        "0,1,2",
        "--threads",
        "1",
        "--jobs",
        "2",
    ]
    p = _seqbench(*args, "-o", str(out), env=env)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(out.glob("cells/*/*/*/seed-*/cell.json"))) < 1:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    done = len(ResultsDir(out).scan()[0])
    assert 1 <= done < 6
    again = _seqbench(*args, "-o", str(out), env=env)
    _, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert stderr.count("already complete") == done
    full = _seqbench(*args, "-o", str(ref), env=env)
    assert full.wait(timeout=300) == 0
    assert {k[1:3]: v for k, v in ranks_of(out).items()} == {
        k[1:3]: v for k, v in ranks_of(ref).items()
    }
    strip = lambda t: [ln for ln in t.splitlines() if "seqrec_bench" not in ln]  # noqa: E731
    assert strip((out / "table.md").read_text()) == strip((ref / "table.md").read_text())
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
    assert Path(out).is_dir()


def test_grid_progress_lines_when_not_a_terminal(consoles, tmp_path):
    out_c, log = Console(record=True, width=200), Console(record=True, width=200)
    run_experiment(
        run_cfg(
            tmp_path / "g", [ModelSpec("pop", "pop"), ModelSpec("markov", "markov")], seeds=(0, 1)
        ),
        out_c,
        log,
    )
    text = log.export_text()
    assert (
        "grid: 1/4 done (0 failed)" in text
        and "grid: 4/4 done (0 failed), 0 running, 0 queued" in text
    )
    assert "min left" in text  # an estimate once a few cells have finished


def test_shuffle_control_rows_are_tested_against_their_model(consoles, tmp_path):
    cyclic = {"synthetic": {**SMALL["synthetic"], "p_successor": 0.6, "n_users": 300}}
    cfg = run_cfg(
        tmp_path / "ctl", [ModelSpec("markov", "markov"), ModelSpec("pop", "pop")], options=cyclic
    )
    cfg.controls = ["shuffle"]
    run_experiment(cfg, *consoles)
    cells = ResultsDir(tmp_path / "ctl").scan()[0]
    assert sorted(c.label for c in cells) == [
        "markov",
        "markov [shuffled]",
        "pop",
        "pop [shuffled]",
    ]
    by = {c.label: c for c in cells}
    assert by["markov [shuffled]"].identity.fields["control"] == "shuffle"
    assert by["markov"].identity.variant != by["markov [shuffled]"].identity.variant
    table = json.loads((tmp_path / "ctl" / "table.json").read_text())
    card = table["card"]
    assert "it loses significantly" in card["control markov [shuffled] (synthetic)"]
    assert "no significant loss" in card["control pop [shuffled] (synthetic)"]  # pop has no order
    np.testing.assert_array_equal(by["pop"].ranks, by["pop [shuffled]"].ranks)


def test_an_unused_optional_identity_field_does_not_rekey_cells():
    from seqrec_bench.store import CellIdentity, config_hash

    fields = {"protocol": "full", "config": {"order": 1}, "control": None, "split_options": None}
    ident = CellIdentity("d", "m", 0, fields)
    # the hash of every cell stored before `control` and `split_options` existed
    from seqrec_bench.store import IDENTITY_FIELDS, OPTIONAL_FIELDS

    assert {"control", "split_options", "trial"} <= OPTIONAL_FIELDS
    old = config_hash({k: fields.get(k) for k in IDENTITY_FIELDS if k not in OPTIONAL_FIELDS})
    assert ident.variant == old
    assert CellIdentity("d", "m", 0, {**fields, "trial": None}).variant == old
    assert CellIdentity("d", "m", 0, {**fields, "control": "shuffle"}).variant != old
    gts = {**fields, "split": "gts", "split_options": {"q": 0.9, "target": "last"}}
    assert CellIdentity("d", "m", 0, gts).variant != old
    # a tuning trial (seqbench tune) is keyed apart from every run cell of the same config
    trial = {"study": "abc", "number": 0, "params": {}, "metric": "NDCG@10"}
    assert CellIdentity("d", "m", 0, {**fields, "trial": trial}).variant != old


def test_deterministic_run_is_recorded_and_leaves_the_driver_as_it_was(
    consoles, tmp_path, monkeypatch
):
    import torch

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    out = tmp_path / "det"
    models = [ModelSpec("gru", "gru", overrides={"max_epochs": 1, "hidden": 8})]
    plain_out = tmp_path / "plain"
    run_experiment(run_cfg(plain_out, models), *consoles)
    assert not torch.are_deterministic_algorithms_enabled()
    run_experiment(run_cfg(out, models, deterministic=True), *consoles)
    # the in-process cell switched the algorithms on for itself only
    assert not torch.are_deterministic_algorithms_enabled()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    manifest = ResultsDir(out).read_manifest()
    assert manifest["settings"]["deterministic"] is True
    assert manifest["determinism"] == {"deterministic": True, "cublas_workspace_config": ":4096:8"}
    (cell,) = ResultsDir(out).scan()[0]
    env = cell.record["environment"]
    assert env["deterministic_algorithms"] is True and env["cublas_workspace_config"] == ":4096:8"
    # a how-setting: same cell key, and on the CPU the same ranks
    (plain,) = ResultsDir(plain_out).scan()[0]
    assert cell.identity.run_key == plain.identity.run_key
    assert cell.ranks.tolist() == plain.ranks.tolist()
