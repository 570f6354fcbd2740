"""Runner behaviour that the CLI tests cannot reach: interruption, resume, experiment files."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from seqrec_bench import registry
from seqrec_bench.config import ExperimentError
from seqrec_bench.config import load_run_config as load_experiment
from seqrec_bench.config import parse_run_config as parse_experiment
from seqrec_bench.data.cache import atomic_path
from seqrec_bench.models import PopularityModel
from seqrec_bench.runner import DatasetSpec, ModelSpec, RunConfig, parse_set_options, run_experiment
from seqrec_bench.store import ResultsDir, atomic_write_text

SMALL = {"synthetic": {"n_users": 200, "n_items": 60, "mean_length": 10}}


class Crashing(PopularityModel):
    """Fails on a chosen seed, like a run killed in the middle of a grid."""

    name = "pop"
    crash_on: set[int] = set()
    fits: list[int] = []

    def _fit(self, train, validator):
        Crashing.fits.append(self.seed)
        if self.seed in Crashing.crash_on:
            raise KeyboardInterrupt
        super()._fit(train, validator)


@pytest.fixture
def quiet(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")
    from rich.console import Console

    return Console(file=open("/dev/null", "w")), Console(file=open("/dev/null", "w"))


def test_interrupted_run_resumes_where_it_stopped(quiet, tmp_path, monkeypatch):
    real = registry.get_model_class
    monkeypatch.setattr(registry, "get_model_class", lambda n: Crashing if n == "pop" else real(n))
    out = tmp_path / "grid"
    cfg = RunConfig(
        datasets=[DatasetSpec("synthetic", options=SMALL)],
        models=[ModelSpec("pop", "pop")],
        seeds=[0, 1, 2],
        output=out,
    )
    Crashing.crash_on, Crashing.fits = {1}, []
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, *quiet)
    done = sorted(c.seed for c in ResultsDir(out).scan()[0])
    assert done == [0]  # seed 0 finished; seed 1 left nothing behind
    assert not list(out.rglob("*.part"))  # the store's temporary files
    Crashing.crash_on, Crashing.fits = set(), []
    run_experiment(cfg, *quiet)
    assert Crashing.fits == [1, 2]  # only what was missing ran
    assert sorted(c.seed for c in ResultsDir(out).scan()[0]) == [0, 1, 2]
    Crashing.fits = []
    run_experiment(cfg, *quiet)
    assert Crashing.fits == []  # a full rerun trains nothing


def test_failure_before_any_cell_leaves_no_folder(quiet, tmp_path):
    cfg = RunConfig(
        datasets=[DatasetSpec("synthetic", options={"synthetic": {"n_users": 0}})],
        models=[ModelSpec("pop", "pop")],
        output=tmp_path / "x",
    )
    with pytest.raises(ValueError):
        run_experiment(cfg, *quiet)
    assert not (tmp_path / "x").exists()


def test_parse_set_options():
    assert parse_set_options(["transformer.lr=1e-3", "gru.hidden=8", "gru.dropout=0.1"]) == {
        "transformer": {"lr": "1e-3"},
        "gru": {"hidden": "8", "dropout": "0.1"},
    }
    with pytest.raises(ValueError):
        parse_set_options(["lr=1"])


def test_experiment_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "log.csv").write_text("user,item,timestamp\n")
    path = tmp_path / "exp.toml"
    path.write_text(
        """
seeds = [0, 1]
k = [10]
output = "out"
[stats]
correction = "bh"
[[datasets]]
source = "data/log.csv"
label = "Log"
[[datasets]]
source = "synthetic"
synthetic = { n_users = 100 }
[models.markov]
[models.markov-2]
model = "markov"
order = 2
"""
    )
    cfg = load_experiment(path)
    assert [m.label for m in cfg.models] == ["markov", "markov-2"]
    assert cfg.models[1].model == "markov" and cfg.models[1].overrides == {"order": 2}
    assert cfg.datasets[0].source == str(tmp_path / "data" / "log.csv")  # relative to the file
    assert cfg.datasets[1].options == {"synthetic": {"n_users": 100}}
    assert cfg.seeds == [0, 1] and cfg.ks == [10] and cfg.correction == "bh"
    assert cfg.output == tmp_path / "out"


@pytest.mark.parametrize(
    "text,needle",
    [
        ("seedz = [1]\n[[datasets]]\nsource='synthetic'\n[models.pop]\n", "unknown key(s) seedz"),
        ("[[datasets]]\nsource='synthetic'\nfoo=1\n[models.pop]\n", "valid keys"),
        ("[models.pop]\n", "[[datasets]]"),
        ("[[datasets]]\nsource='synthetic'\n", "[models.NAME]"),
        ("[[datasets]]\nsource='synthetic'\n[models.pop]\n[stats]\ntest='z'\n", "ttest"),
        ("this is = not toml [", "invalid TOML"),
    ],
)
def test_experiment_file_errors(tmp_path, text, needle):
    path = tmp_path / "e.toml"
    path.write_text(text)
    with pytest.raises(ExperimentError, match=None) as info:
        load_experiment(path)
    assert needle in str(info.value)


def test_unknown_model_config_key_in_experiment_is_rejected(quiet, tmp_path):
    cfg = parse_experiment(
        {
            "datasets": [{"source": "synthetic", **SMALL}],
            "models": {"pop": {"nope": 1}},
            "output": str(tmp_path / "o"),
        }
    )
    with pytest.raises(ValueError, match="unknown"):
        run_experiment(cfg, *quiet)
    assert not (tmp_path / "o").exists()


# -- per-cell peak memory ------------------------------------------------------------------------
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc (Linux)")
def test_peak_rss_is_per_block_not_the_process_high_water_mark() -> None:
    """A later cell must not be charged with an earlier, larger cell's peak (ru_maxrss would)."""
    from seqrec_bench.environment import PeakRSS

    with PeakRSS(interval=0.005) as big:
        block = np.ones(300 * 2**20 // 8)  # 300 MB, touched
        time.sleep(0.05)
        del block
    with PeakRSS(interval=0.005) as small:
        time.sleep(0.05)
    assert big.mb > small.mb + 200  # the 300 MB block shows in the first block only
    assert small.mb > 0


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    """Results and caches are written through temp files; they must not end up owner-only."""
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "table.md", "x")
        with atomic_path(tmp_path / "cache.npz") as tmp:
            tmp.write_bytes(b"y")
    finally:
        os.umask(old)
    for name in ("table.md", "cache.npz"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_cells_record_why_training_stopped(quiet, tmp_path):
    """A run cut by its time budget says so in its cell (and closed-form models say nothing)."""
    out = tmp_path / "budget"
    tiny = {"hidden": 8, "n_blocks": 1, "max_len": 8, "max_epochs": 1000, "time_budget": 1e-3}
    cfg = RunConfig(
        datasets=[DatasetSpec("synthetic", options=SMALL)],
        models=[ModelSpec("transformer", "transformer", tiny), ModelSpec("pop", "pop")],
        seeds=[0],
        output=out,
    )
    run_experiment(cfg, *quiet)
    cells = {c.label: c.record for c in ResultsDir(out).scan()[0]}
    assert cells["transformer"]["stop_reason"] == "time_budget"
    assert cells["transformer"]["best_epoch"] == 1 and len(cells["transformer"]["history"]) == 1
    assert cells["pop"]["stop_reason"] is None


def test_shipped_configs_parse_and_the_quickstart_is_offline():
    root = Path(__file__).resolve().parents[1] / "benchmarks"
    for path in sorted(root.glob("*.toml")):
        cfg = load_experiment(path)
        assert cfg.models and cfg.datasets, path
    quick = load_experiment(root / "quickstart.toml")
    assert [d.source for d in quick.datasets] == ["synthetic"]  # nothing to download
    assert [m.label for m in quick.models] == ["transformer", "gru", "markov", "pop"]


@pytest.mark.parametrize(
    "line,needle",
    [
        ("seeds = 3", "seeds expects a non-empty list of integers"),
        ("k = 10", "k expects a non-empty list of integers"),
        ('seeds = "0,1"', "seeds expects a non-empty list of integers"),
        ('exclude_seen = "false"', "exclude_seen expects true or false"),
        ("jobs = 1.5", "jobs expects an integer"),
    ],
)
def test_experiment_values_are_type_checked_naming_file_and_key(tmp_path, line, needle):
    path = tmp_path / "exp.toml"
    path.write_text(f"{line}\n[[datasets]]\nsource = 'synthetic'\n[models.pop]\n")
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    assert str(path) in str(info.value) and needle in str(info.value)


def test_experiment_stats_alpha_must_be_a_number(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(
        "[[datasets]]\nsource = 'synthetic'\n[models.pop]\n[stats]\nalpha = 'five percent'\n"
    )
    with pytest.raises(ExperimentError, match=r"stats\.alpha expects a number"):
        load_experiment(path)


def test_model_values_in_an_experiment_are_strict_and_name_the_table(quiet, tmp_path):
    cfg = parse_experiment(
        {
            "datasets": [{"source": "synthetic", **SMALL}],
            "models": {"transformer": {"hidden": 32.5}},
            "output": str(tmp_path / "o"),
        },
        origin="exp.toml",
    )
    with pytest.raises(ValueError) as info:
        run_experiment(cfg, *quiet)
    msg = str(info.value)
    assert "exp.toml [models.transformer]" in msg and "hidden expects int, got 32.5" in msg
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "line,needle",
    [
        ('min_user_interactions = "x"', "datasets[0].min_user_interactions expects an integer"),
        ('min_rating = "3"', "datasets[0].min_rating expects a number"),
        ('columns = "user=a"', "datasets[0].columns expects a table"),
        ("duplicates = 1", "datasets[0].duplicates expects a string"),
    ],
)
def test_dataset_values_in_an_experiment_are_type_checked(tmp_path, line, needle):
    path = tmp_path / "exp.toml"
    path.write_text(f"[[datasets]]\nsource = 'synthetic'\n{line}\n[models.pop]\n")
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    assert str(path) in str(info.value) and needle in str(info.value)


def test_a_non_numeric_k_core_threshold_is_a_data_error_not_a_crash():
    from seqrec_bench.data import load_dataset
    from seqrec_bench.errors import SeqbenchError

    with pytest.raises(SeqbenchError, match="min_user_interactions must be a whole number"):
        load_dataset("synthetic", min_user_interactions="x", cache=False)  # type: ignore[arg-type]


def test_deterministic_key_and_flag(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('deterministic = true\n[[datasets]]\nsource = "synthetic"\n[models.pop]\n')
    cfg = load_experiment(path)
    assert cfg.deterministic is True
    path.write_text('deterministic = "yes"\n[[datasets]]\nsource = "synthetic"\n[models.pop]\n')
    with pytest.raises(ExperimentError, match="deterministic"):
        load_experiment(path)
