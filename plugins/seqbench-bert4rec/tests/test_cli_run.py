"""The installed plugin runs through `seqbench run`, evaluated by the same harness as built-ins."""

from __future__ import annotations

import json

from seqrec_bench.cli import app
from seqrec_bench.registry import refresh
from typer.testing import CliRunner


def test_seqbench_run_with_bert4rec_on_synthetic(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")
    refresh()
    out = tmp_path / "res"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--models",
            "bert4rec,pop",
            "--dataset",
            "synthetic",
            "--synthetic",
            "n_users=200",
            "--synthetic",
            "n_items=60",
            "--synthetic",
            "mean_length=10",
            "--set",
            "bert4rec.max_epochs=2",
            "--set",
            "bert4rec.hidden=16",
            "--k",
            "10",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["models"]) == {"bert4rec", "pop"}
    # one cell, wherever the results layout puts it (cells/<dataset>/<label>/.../seed-0/)
    (path,) = out.glob("cells/synthetic/bert4rec/**/seed-0/cell.json")
    cell = json.loads(path.read_text())
    assert cell["model_name"] == "bert4rec" and len(cell["history"]) == 2
    assert 0.0 <= summary["models"]["bert4rec"]["NDCG@10"] <= 1.0
