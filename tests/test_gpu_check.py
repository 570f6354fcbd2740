"""The parts of ``benchmarks/gpu_check.sh`` that run without a GPU."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def _helper():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_script_parses_and_is_strict():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    assert "set -euo pipefail" in SCRIPT.read_text()


def test_rank_comparison_and_table(tmp_path, monkeypatch):
    from rich.console import Console

    from seqrec_bench.config import DatasetSpec, ModelSpec, RunConfig
    from seqrec_bench.runner import run_experiment

    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")
    small = {"synthetic": {"n_users": 80, "n_items": 30, "mean_length": 6}}
    for name in ("a", "b"):
        cfg = RunConfig(
            datasets=[DatasetSpec("synthetic", options=small)],
            models=[ModelSpec("pop", "pop")],
            output=tmp_path / name,
            deterministic=True,
        )
        run_experiment(cfg, Console(file=io.StringIO()), Console(file=io.StringIO()))
    helper = _helper()
    rows = helper.compare_ranks(tmp_path / "a", tmp_path / "b")
    assert [r["ok"] for r in rows] == [True] and rows[0]["value"] == "0 users differ"
    # a second run that lacks the cell fails the check
    empty = tmp_path / "empty"
    empty.mkdir()
    assert helper.compare_ranks(tmp_path / "a", empty)[0]["ok"] is False
    lines = tmp_path / "rows.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = helper.render([lines])
    assert "determinism pop seed 0" in table and "yes" in table


@pytest.mark.slow
def test_precision_step_dry_run():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "precision", "--device",
         "cpu", "--dry-run", "--max-epochs", "1"],
        capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["check"].startswith("bf16 vs fp32") and row["ok"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_whole_script_dry_run_on_the_cpu():
    out = subprocess.run(["bash", str(SCRIPT), "--dry-run"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "determinism transformer seed 0" in out.stdout and "total wall time" in out.stdout
