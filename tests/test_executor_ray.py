"""--executor ray on a local Ray cluster started by the run (the real code path, two CPUs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from rich.console import Console

from seqrec_bench.config import DatasetSpec, ModelSpec, RunConfig
from seqrec_bench.runner import CellsFailedError, run_experiment
from seqrec_bench.store import ResultsDir

SMALL = {"synthetic": {"n_users": 150, "n_items": 40, "mean_length": 8, "p_successor": 0.4}}
TINY = {"hidden": 8, "max_len": 8, "max_epochs": 3, "n_blocks": 1}
FLAGS = [
    "--dataset", "synthetic", "--synthetic", "n_users=150", "--synthetic", "n_items=40",
    "--synthetic", "mean_length=8", "--k", "5,10", "--threads", "1",
]  # fmt: skip


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")
    return {**os.environ, "SEQBENCH_DATA": str(tmp_path / "cache"), "SEQBENCH_PROGRESS": "0"}


def quiet():
    return Console(file=open(os.devnull, "w")), Console(file=open(os.devnull, "w"))


def grid(out, models, **kw):
    return RunConfig(
        datasets=[DatasetSpec("synthetic", options=SMALL)],
        models=models,
        seeds=[0, 1],
        ks=[5, 10],
        output=out,
        threads=1,
        **kw,
    )


def ranks_of(out):
    return {(c.label, c.seed): c.ranks.tolist() for c in ResultsDir(out).scan()[0]}


def test_without_ray_it_is_one_line(env, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    cfg = grid(tmp_path / "o", [ModelSpec("pop", "pop")], executor="ray")
    with pytest.raises(ImportError, match=r"pip install 'seqrec-bench\[ray\]'"):
        run_experiment(cfg, *quiet())
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_ray_gives_exactly_the_local_results(env, tmp_path):
    pytest.importorskip("ray")
    models = [
        ModelSpec("pop", "pop"),
        ModelSpec("markov", "markov"),
        ModelSpec("transformer", "transformer", TINY),
    ]
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    run_experiment(grid(local, models), *quiet())
    run_experiment(grid(ray_out, models, executor="ray"), *quiet())
    assert ranks_of(local) == ranks_of(ray_out) and len(ranks_of(local)) == 6
    a = json.loads((local / "summary.json").read_text())
    b = json.loads((ray_out / "summary.json").read_text())
    assert a == b  # metrics, p-values and CIs
    manifest = json.loads((ray_out / "manifest.json").read_text())
    assert manifest["executor"]["name"] == "ray"
    assert manifest["executor"]["cluster"]["resources"]["CPU"] >= 1
    assert all(p["node"] and p["device"] == "cpu" for p in manifest["cell_placement"].values())


@pytest.mark.slow
def test_a_raising_cell_is_reported_and_the_others_are_stored(env, tmp_path):
    pytest.importorskip("ray")
    bad = ModelSpec("transformer", "transformer", {**TINY, "lr": 1e9})
    cfg = grid(tmp_path / "o", [bad, ModelSpec("pop", "pop")], executor="ray")
    with pytest.raises(CellsFailedError) as info:
        run_experiment(cfg, *quiet())
    assert "2 of 4 cells failed" in str(info.value) and "TrainingError" in str(info.value)
    assert sorted(ranks_of(tmp_path / "o")) == [("pop", 0), ("pop", 1)]


def _seqbench(args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "seqrec_bench.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ray_cell_pids():
    out = subprocess.run(["pgrep", "-f", "ray::_cell_task"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_the_grid_completes(env, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "o"
    slow = ["--set", "transformer.max_epochs=40", "--set", "transformer.patience=40"]
    slow += ["--set", "transformer.hidden=8", "--set", "transformer.max_len=8"]
    args = [
        "run",
        "--models",
        "transformer",
        *FLAGS,
        *slow,
        "--seeds",
        "0",
        "--executor",
        "ray",
        "-o",
        str(out),
    ]
    proc = _seqbench(args, env)
    killed = None
    deadline = time.time() + 300  # ends at the first cell process; guards a hung start only
    while time.time() < deadline and killed is None:
        pids = _ray_cell_pids()
        if pids:
            time.sleep(1.0)  # let it train a little: the kill lands mid-cell
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.1)
    _, stderr = proc.communicate(timeout=300)
    assert killed is not None, "no Ray worker ran the cell"
    assert proc.returncode == 0, stderr
    assert len(ranks_of(out)) == 1


@pytest.mark.slow
def test_killed_driver_then_the_same_command_resumes(env, tmp_path):
    pytest.importorskip("ray")
    out, ref = tmp_path / "killed", tmp_path / "ref"
    args = [
        "run",
        "--models",
        "markov,pop",
        *FLAGS,
        "--seeds",
        "0,1,2",
        "--executor",
        "ray",
        "--max-concurrent",
        "1",
    ]
    proc = _seqbench([*args, "-o", str(out)], env)
    # the wait ends at the first stored cell; the bound only guards a hung start (a local Ray
    # cluster on two busy cores once took over two minutes to store one)
    deadline = time.time() + 300
    while time.time() < deadline and not list(out.glob("cells/*/*/*/seed-*/cell.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    subprocess.run(["ray", "stop", "--force"], capture_output=True)  # the orphaned local cluster
    done = len(ranks_of(out))
    assert 1 <= done < 6
    again = _seqbench([*args, "-o", str(out)], env)
    _, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert stderr.count("already complete") == done
    assert _seqbench([*args, "-o", str(ref)], env).wait(timeout=300) == 0
    assert ranks_of(out) == ranks_of(ref)
    a, b = (json.loads((d / "summary.json").read_text()) for d in (out, ref))
    assert a == b
