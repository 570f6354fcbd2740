"""seqbench verify (reference bands) and seqbench plot (figures) on a stored run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from seqrec_bench.cli import app
from seqrec_bench.store import CellIdentity, ResultsDir
from seqrec_bench.verify import Reference, load_references, verify_run


def fake_run(
    root, ranks_by_model, *, dataset="Beauty", source="/x/Beauty.txt", items=12101, config=None
):
    """A minimal results folder with hand-made ranks (what `seqbench run` would store)."""
    rd = ResultsDir(root)
    rd.write_dataset(
        dataset,
        {"name": dataset, "source": source, "checksum": "ab" * 32, "stats": {"items": items}},
    )
    for model, per_seed in ranks_by_model.items():
        for seed, ranks in enumerate(per_seed):
            rec = {
                "dataset": dataset,
                "model": model,
                "model_name": model.split("-")[0],
                "seed": seed,
                "config": config or {"loss": "ce"},
                "protocol": "full",
                "exclude_seen": True,
                "users": len(ranks),
                "history": [{"epoch": e, "NDCG@10": 0.01 * e, "seconds": 1.0} for e in range(1, 5)],
                "best_epoch": 3,
                "times": {"fit_seconds": 4.0, "best_epoch_seconds": 3.0, "test_eval_seconds": 0.1},
                "memory": {"peak_rss_mb": 100.0, "peak_gpu_mb": None},
                "parameters": 10,
            }
            rd.write_cell(CellIdentity.from_record(rec), rec, np.asarray(ranks))
    return rd


def test_reference_checks():
    within = Reference("m", "d", "full", "NDCG@10", 0.18, "src", tolerance=0.01, check="within")
    assert within.passes(0.175) and within.passes(0.19) and not within.passes(0.16)
    floor = Reference("m", "d", "full", "NDCG@10", 0.05, "src", tolerance=0.002, check="at_least")
    assert floor.passes(0.2) and floor.passes(0.0485) and not floor.passes(0.047)


def test_shipped_references_are_well_formed():
    refs = load_references()
    assert any(r.dataset == "ml-1m" and r.value == pytest.approx(0.1821) for r in refs)
    assert any(r.dataset == "beauty" and r.value == pytest.approx(0.0531) for r in refs)
    for r in refs:
        assert r.check in ("within", "at_least") and r.source


def test_verify_matches_model_dataset_and_config(tmp_path):
    # NDCG@10 of rank 1 is 1, of rank 3 is 0.5; 1 user in 10 at rank 1 -> NDCG@10 = 0.1
    good = [1] + [100] * 9
    fake_run(tmp_path, {"transformer": [good], "gru": [[100] * 10]})
    rows = verify_run(tmp_path)
    by = {(r.model, r.metric): r for r in rows}
    assert by[("transformer", "NDCG@10")].ours == pytest.approx(0.1)
    assert by[("transformer", "NDCG@10")].passed  # >= 0.0531 - tol
    assert by[("transformer", "HR@10")].passed
    assert not by[("gru", "NDCG@10")].passed  # 0 is below the GRU4Rec floor
    assert all(r.dataset == "Beauty" for r in rows)


def test_verify_ignores_other_items_or_config(tmp_path):
    fake_run(tmp_path / "a", {"transformer": [[1] * 5]}, items=999)
    assert verify_run(tmp_path / "a") == []
    fake_run(tmp_path / "b", {"transformer": [[1] * 5]}, config={"loss": "bce"})
    rows = verify_run(tmp_path / "b")
    assert {r.reference.config.get("loss") for r in rows} == {"bce"}


def test_verify_cli_exit_codes(tmp_path):
    fake_run(tmp_path / "ok", {"transformer": [[1] * 10]})
    result = CliRunner().invoke(app, ["verify", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output
    assert "pass" in result.output and "0.0531" in result.output
    fake_run(tmp_path / "bad", {"gru": [[500] * 10]})
    result = CliRunner().invoke(app, ["verify", str(tmp_path / "bad")])
    assert result.exit_code == 1 and "FAIL" in result.output


@pytest.mark.slow  # matplotlib: about a second each
def test_plots_written(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    fake_run(
        tmp_path,
        {
            "transformer": [rng.integers(1, 60, 50) for _ in range(3)],
            "pop": [rng.integers(1, 200, 50)],
        },
    )
    result = CliRunner().invoke(app, ["plot", str(tmp_path), "--max-k", "20"])
    assert result.exit_code == 0, result.output
    for name in (
        "training_curves.png",
        "training_curves.pdf",
        "metrics_vs_k.png",
        "metrics_vs_k.pdf",
    ):
        path = tmp_path / "figures" / name
        assert path.exists() and path.stat().st_size > 1000


def test_plot_without_matplotlib_is_one_clear_line(tmp_path, monkeypatch):
    import builtins

    fake_run(tmp_path, {"pop": [[1, 2, 3]]})
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = CliRunner().invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 2
    assert "pip install 'seqrec-bench[plots]'" in result.output


def test_efficiency_columns_in_table(tmp_path):
    fake_run(tmp_path, {"transformer": [[1, 2, 3, 4]], "pop": [[5, 6, 7, 8]]})
    result = CliRunner().invoke(app, ["table", str(tmp_path), "--format", "csv", "--efficiency"])
    assert result.exit_code == 0, result.output
    assert "train s" in result.output and "params" in result.output
    js = json.loads(CliRunner().invoke(app, ["table", str(tmp_path), "--format", "json"]).output)
    assert js


def test_a_validation_search_is_not_drawn_as_epochs():
    """markov's back-off grid is stored as history rows too; it must not become a 6-epoch curve."""
    from seqrec_bench.plots import _trains_in_epochs

    markov = {
        "config": {"order": 1, "alpha": 0.01, "backoff_weight": 0.01, "select_on_validation": True},
        "history": [
            {"epoch": e, "backoff_weight": w, "NDCG@10": 0.07} for e, w in enumerate((1e-4, 0.5))
        ],
    }
    trained = {
        "config": {"max_epochs": 100},
        "history": [{"epoch": 1, "loss": 6.0, "NDCG@10": 0.1}],
    }
    plugin_without_epoch_cap = {
        "config": {},
        "history": [{"epoch": 1, "loss": 6.0, "NDCG@10": 0.1}],
    }
    assert not _trains_in_epochs(markov)
    assert _trains_in_epochs(trained) and _trains_in_epochs(plugin_without_epoch_cap)


@pytest.mark.slow  # matplotlib: about a second each
def test_plot_filters_models_and_rejects_an_empty_selection(tmp_path):
    pytest.importorskip("matplotlib")
    fake_run(tmp_path, {"transformer": [[1, 5, 30]], "bert4rec": [[2, 3, 4]]})
    result = CliRunner().invoke(
        app, ["plot", str(tmp_path), "--models", "transformer", "--max-k", "5"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "figures" / "training_curves.png").stat().st_size > 1000
    result = CliRunner().invoke(app, ["plot", str(tmp_path), "--models", "nope"])
    assert result.exit_code != 0
    assert "no completed cells for the requested models/datasets" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow  # matplotlib: about a second each
def test_verify_and_plot_read_the_last_runs_cells_like_table(tmp_path, monkeypatch):
    """A folder holding an earlier config's cells beside the last run's is not 'mixed' for them."""
    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")
    runner = CliRunner()
    base = [
        "run",
        "--models",
        "markov",
        "--dataset",
        "synthetic",
        "--synthetic",
        "n_users=200",
        "-o",
        str(tmp_path / "r"),
    ]
    assert runner.invoke(app, base).exit_code == 0
    assert runner.invoke(app, [*base, "--set", "markov.order=2"]).exit_code == 0
    result = runner.invoke(app, ["verify", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output  # nothing to verify against, but no mix error
    assert (
        "different configs"
        in runner.invoke(app, ["table", str(tmp_path / "r"), "--models", "markov"]).output
    )
    if pytest.importorskip("matplotlib"):
        assert runner.invoke(app, ["plot", str(tmp_path / "r"), "--max-k", "5"]).exit_code == 0
