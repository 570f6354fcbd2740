"""``seqbench tune``: search spaces, equal budgets, reproducible and resumable studies, and the
rule that no trial ever sees the test split."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from seqrec_bench import registry
from seqrec_bench.config import DatasetSpec, ModelSpec, RunConfig
from seqrec_bench.errors import ConfigError
from seqrec_bench.models import GRUModel, MarkovModel, Param, TransformerModel
from seqrec_bench.models.markov import MarkovConfig
from seqrec_bench.models.space import space_from_table, space_size, validate_space
from seqrec_bench.store import ResultsDir

SMALL = {"synthetic": {"n_users": 300, "n_items": 60, "mean_length": 10}}
#: a GRU that trains in a blink: the studies below test the machinery, not the model
TINY_GRU = {"max_epochs": "1", "hidden": "8", "max_len": "10"}


@pytest.fixture
def quiet(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")
    from rich.console import Console

    return Console(file=open("/dev/null", "w")), Console(file=open("/dev/null", "w"))


def _cfg(out: Path, models=("markov",), trials=4, seed=0, **kw):
    from seqrec_bench.tune import TuneConfig

    specs = []
    for name in models:
        spec = ModelSpec(name, name)
        if name == "gru":
            spec.set_options = dict(TINY_GRU)
        specs.append(spec)
    run = RunConfig(
        datasets=[DatasetSpec("synthetic", options=json.loads(json.dumps(SMALL)))],
        models=specs,
        output=out,
        threads=1,  # a shared CPU: one thread per trial is the fastest and the same numbers
    )
    return TuneConfig(run=run, trials=trials, seed=seed, **kw)


def _trials(out: Path) -> dict[str, dict[int, dict]]:
    """Per model, trial number -> (params, status, value) read back from the folder."""
    from seqrec_bench.tune import read_tuning

    _, trials = read_tuning(out)
    return {
        label: {
            n: {
                "params": c.record["trial"]["params"],
                "status": c.record["status"],
                "value": c.record["value"],
            }
            for n, c in mine.items()
        }
        for label, mine in trials.items()
    }


# -- search spaces ----------------------------------------------------------------------------
def test_builtin_spaces_are_valid_and_sensible():
    for cls in (TransformerModel, GRUModel, MarkovModel):
        validate_space(cls.name, cls.config_cls, cls.search_space)
    assert TransformerModel.search_space["lr"] == Param.float(1e-4, 1e-2, log=True)
    assert GRUModel.search_space["lr"].log
    assert space_size(MarkovModel.search_space) == "8 configurations"
    from seqrec_bench.models import PopularityModel

    assert PopularityModel.search_space == {}


@pytest.mark.parametrize(
    ("space", "needle"),
    [
        ({"nope": Param.choice(1)}, "search space of 'markov' names unknown field 'nope'"),
        ({"alpha": Param.float(1.0, 0.1)}, "alpha: empty range [1, 0.1] (low > high)"),
        ({"alpha": Param.choice()}, "alpha: empty choice"),
        ({"alpha": Param.float(0.0, 1.0, log=True)}, "alpha: a log range needs low > 0"),
        ({"order": Param.float(1.0, 2.0)}, "order: a float range does not fit the field's type"),
        ({"order": Param.choice(1, "two")}, "order: 'two' (str) is not a value of int"),
        ({"order": Param.int(1, 3)}, "order: 3 is rejected by the config"),
        ({"backoff_weight": Param.float(0.0, 2.0)}, "backoff_weight: 2.0 is rejected"),
        ({"select_on_validation": Param.int(0, 1)}, "select_on_validation: a int range"),
        ({"alpha": 0.1}, "alpha: expects a Param"),
    ],
)
def test_search_space_errors_name_the_model_and_the_field(space, needle):
    with pytest.raises(ConfigError) as err:
        validate_space("markov", MarkovConfig, space)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_a_toml_table_narrows_or_replaces_a_space():
    declared = MarkovModel.search_space
    narrowed = space_from_table(declared, {"alpha": [0.1, 1.0]})
    assert narrowed == {"order": Param.choice(1, 2), "alpha": Param.choice(0.1, 1.0)}
    replaced = space_from_table(declared, {"replace": True, "alpha": {"low": 0.01, "high": 1.0}})
    assert replaced == {"alpha": Param.float(0.01, 1.0)}
    assert space_from_table(declared, {"exclude": ["order"]}) == {"alpha": declared["alpha"]}
    assert space_from_table(declared, {"order": {"low": 1, "high": 2}})["order"] == Param.int(1, 2)
    for table, needle in [
        ({"alpha": 0.1}, "fix a value with --set instead"),
        ({"alpha": {"lo": 1}}, "alpha expects { low = .., high = .."),
        ({"exclude": ["lr"]}, "exclude names lr, not in the declared space"),
        ({"replace": "yes"}, "replace expects true or false"),
    ]:
        with pytest.raises(ConfigError, match="x.toml"):
            space_from_table(declared, table, origin="x.toml [tune.markov]")
        with pytest.raises(ConfigError) as err:
            space_from_table(declared, table)
        assert needle in str(err.value)


def test_study_settings_errors(tmp_path):
    from seqrec_bench.tune import TuneConfig

    with pytest.raises(ConfigError, match="--trials N .* or --budget MINUTES"):
        _cfg(tmp_path, trials=None).check()
    with pytest.raises(ConfigError, match="--trials must be >= 1"):
        _cfg(tmp_path, trials=0).check()
    with pytest.raises(ConfigError, match="--sampler must be one of tpe, random"):
        _cfg(tmp_path, sampler="grid").check()
    with pytest.raises(ConfigError, match="--metric"):
        TuneConfig(run=_cfg(tmp_path).run, trials=1, metric="AUC").check()
    cfg = _cfg(tmp_path)
    cfg.run.protocol = "sampled-pop-100"
    with pytest.raises(ConfigError, match="--protocol full"):
        cfg.check()
    cfg = _cfg(tmp_path)
    cfg.run.datasets.append(DatasetSpec("synthetic", label="again"))
    with pytest.raises(ConfigError, match="one data set"):
        cfg.check()


def test_an_unknown_field_in_a_space_file_is_one_error_before_any_trial(quiet, tmp_path):
    pytest.importorskip("optuna", reason="seqbench tune needs the [tune] extra (optuna)")
    from seqrec_bench.tune import load_spaces, run_tuning

    path = tmp_path / "space.toml"
    path.write_text("[tune.markov]\nsmoothing = [0.1, 1.0]\n")
    cfg = _cfg(tmp_path / "t", spaces=load_spaces(path), spaces_origin=str(path))
    with pytest.raises(ConfigError, match="names unknown field 'smoothing'"):
        run_tuning(cfg, *quiet)
    assert not (tmp_path / "t").exists()
    path.write_text("[tune.gru]\nlr = [0.1]\n")
    cfg = _cfg(tmp_path / "t", spaces=load_spaces(path), spaces_origin=str(path))
    with pytest.raises(ConfigError, match=r"\[tune.gru\] names no model of this study"):
        run_tuning(cfg, *quiet)


# -- the optional extra ----------------------------------------------------------------------
def test_missing_optuna_is_one_line(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from seqrec_bench.cli import app
    from seqrec_bench.tune import MissingTuneDependency, _optuna

    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` raises ImportError
    with pytest.raises(MissingTuneDependency, match=r"pip install 'seqrec-bench\[tune\]'"):
        _optuna()
    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    result = CliRunner().invoke(
        app, ["tune", "--models", "markov", "--dataset", "synthetic", "--trials", "1"]
    )
    assert result.exit_code == 2
    assert "tuning needs Optuna: pip install 'seqrec-bench[tune]'" in result.output
    assert "Traceback" not in result.output


# -- median pruning ---------------------------------------------------------------------------
def test_the_pruning_rule_is_optunas_median_pruner():
    optuna = pytest.importorskip("optuna", reason="compared with Optuna's MedianPruner")
    from seqrec_bench.tune import PRUNE_WARMUP_EPOCHS, PruningValidator, TrialPruned, median_rule

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(0)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=PRUNE_WARMUP_EPOCHS)
    outcomes = []
    for case in range(40):
        n_done = int(rng.integers(3, 9))
        curves = [
            {e: float(rng.random()) for e in range(1, int(rng.integers(2, 12)) + 1)}
            for _ in range(n_done)
        ]
        study = optuna.create_study(direction="maximize")
        for curve in curves:
            study.add_trial(
                optuna.trial.create_trial(value=max(curve.values()), intermediate_values=curve)
            )
        trial = study.ask()
        rule = median_rule(curves, "NDCG@10")
        mine = PruningValidator(None, rule) if rule else None
        for epoch in range(1, 12):
            value = float(rng.random())
            trial.report(value, epoch)
            frozen = study._storage.get_trial(trial._trial_id)
            theirs = pruner.prune(study, frozen)
            ours = False
            if mine is not None:
                try:
                    mine.after_epoch({"epoch": epoch, "NDCG@10": value})
                except TrialPruned:
                    ours = True
            assert ours == theirs, (case, epoch)
            outcomes.append(theirs)
            if theirs:
                break
    assert any(outcomes) and not all(outcomes)  # both verdicts were compared


@pytest.mark.slow
def test_a_pruned_trial_is_stored_and_feeds_the_next_proposals(quiet, tmp_path, monkeypatch):
    pytest.importorskip("optuna", reason="seqbench tune needs the [tune] extra (optuna)")
    import seqrec_bench.tune as tune

    # medians no trial can reach: every trial of the GRU stops after its first epoch
    monkeypatch.setattr(
        tune,
        "median_rule",
        lambda curves, metric, warmup=1: {"metric": metric, "medians": {1: 2.0}, "warmup": 1},
    )
    cfg = _cfg(tmp_path / "p", models=("gru",), trials=3)
    cfg.run.models[0].set_options["max_epochs"] = "3"
    out = tune.run_tuning(cfg, *quiet)
    trials = _trials(out)["gru"]
    assert [t["status"] for t in trials.values()] == ["pruned"] * 3
    assert all(t["value"] is None for t in trials.values())
    cells = ResultsDir(out).scan()[0]
    assert all(len(c.ranks) == 0 and len(c.record["history"]) == 1 for c in cells)
    assert all(c.record["pruned"]["epoch"] == 1 for c in cells)
    from seqrec_bench.errors import ResultsError

    with pytest.raises(ResultsError, match="gru has no completed trial"):
        tune.tuned_run_config(out)
    # pruned trials are part of the study's history (as Optuna's PRUNED trials): a second
    # study proposes the same
    cfg2 = _cfg(tmp_path / "q", models=("gru",), trials=3)
    cfg2.run.models[0].set_options["max_epochs"] = "3"
    assert _trials(tune.run_tuning(cfg2, *quiet))["gru"] == trials


# -- studies ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_tiny_study_is_reproducible_for_a_seed(quiet, tmp_path):
    pytest.importorskip("optuna", reason="seqbench tune needs the [tune] extra (optuna)")
    from seqrec_bench.tune import read_tuning, run_tuning

    a = run_tuning(_cfg(tmp_path / "a", models=("gru", "markov")), *quiet)
    b = run_tuning(_cfg(tmp_path / "b", models=("gru", "markov")), *quiet)
    ta, tb = _trials(a), _trials(b)
    assert set(ta) == {"gru", "markov"} and all(len(t) == 4 for t in ta.values())
    assert ta == tb  # same proposals, same results
    record_a, record_b = read_tuning(a)[0], read_tuning(b)[0]
    assert [m["best"] for m in record_a["models"]] == [m["best"] for m in record_b["models"]]
    c = run_tuning(_cfg(tmp_path / "c", models=("gru", "markov"), seed=1), *quiet)
    gru_params = lambda t: [v["params"] for v in t["gru"].values()]  # noqa: E731
    assert gru_params(_trials(c)) != gru_params(ta)  # another seed, another study
    # every trial is a cell: config, validation curve, times; no test metric
    cells, problems = ResultsDir(a).scan()
    assert len(cells) == 8 and not problems
    for cell in cells:
        rec = cell.record
        assert "test" not in rec and rec["trial"]["study"] and rec["history"]
        assert rec["times"]["trial_seconds"] > 0 and rec["users"] == len(cell.ranks) == 300


def test_resume_runs_only_missing_trials_and_proposes_the_same(quiet, tmp_path, monkeypatch):
    pytest.importorskip("optuna", reason="seqbench tune needs the [tune] extra (optuna)")
    import seqrec_bench.tune as tune

    straight = tune.run_tuning(_cfg(tmp_path / "straight", trials=6), *quiet)
    ran: list[int] = []
    real = tune.run_trial

    def counting(data, task, device=None):
        ran.append(task.identity.fields["trial"]["number"])
        return real(data, task, device)

    monkeypatch.setattr(tune, "run_trial", counting)
    out = tmp_path / "resumed"
    tune.run_tuning(_cfg(out, trials=2), *quiet)
    assert ran == [0, 1]
    ran.clear()
    tune.run_tuning(_cfg(out, trials=6), *quiet)
    assert ran == [2, 3, 4, 5]  # the finished trials are skipped
    assert _trials(out) == _trials(straight)  # and the sampler proposed what it would have
    ran.clear()
    tune.run_tuning(_cfg(out, trials=6), *quiet)
    assert ran == []
    # a torn trial file is reported and that trial runs again, to the same result
    (trial3,) = [c.path for c in ResultsDir(out).scan()[0] if c.record["trial"]["number"] == 3]
    (trial3 / "cell.json").write_text('{"dataset": "synth')
    warnings = []
    console, _ = quiet
    from rich.console import Console

    log = Console(file=open("/dev/null", "w"))
    log.print = lambda text, **kw: warnings.append(str(text))  # type: ignore[method-assign]
    tune.run_tuning(_cfg(out, trials=6), console, log, quiet=True)
    assert ran == [3]
    assert any("unreadable trial cell" in w and "cell.json" in w for w in warnings)
    assert _trials(out) == _trials(straight)


def test_a_killed_study_resumes_where_it_stopped(quiet, tmp_path, monkeypatch):
    pytest.importorskip("optuna", reason="seqbench tune needs the [tune] extra (optuna)")
    from seqrec_bench.tune import run_tuning

    real = registry.get_model_class

    class Killed(MarkovModel):
        fits: list[int] = []
        kill_at = 2

        def _fit(self, train, validator):
            Killed.fits.append(len(Killed.fits))
            if len(Killed.fits) - 1 == Killed.kill_at:
                raise KeyboardInterrupt  # like Ctrl-C or a SIGKILL of the driver mid-trial
            super()._fit(train, validator)

    monkeypatch.setattr(registry, "get_model_class", lambda n: Killed if n == "markov" else real(n))
    out = tmp_path / "t"
    with pytest.raises(KeyboardInterrupt):
        run_tuning(_cfg(out), *quiet)
    assert sorted(_trials(out)["markov"]) == [0, 1]
    assert not list(out.rglob("*.part"))
    Killed.fits, Killed.kill_at = [], -1
    run_tuning(_cfg(out), *quiet)
    assert len(Killed.fits) == 2  # trials 2 and 3 only
    monkeypatch.setattr(registry, "get_model_class", real)
    straight = run_tuning(_cfg(tmp_path / "straight"), *quiet)
    assert _trials(out) == _trials(straight)


class Probe(MarkovModel):
    """Records everything a trial hands it: the training rows and the validator's rows."""

    name = "markov"
    seen: list[dict] = []

    def _fit(self, train, validator):
        Probe.seen.append(
            {
                "train": train.to_lists(),
                "valid_inputs": validator.inner.inputs.to_lists()
                if hasattr(validator, "inner")
                else validator.inputs.to_lists(),
                "valid_targets": (
                    validator.inner if hasattr(validator, "inner") else validator
                ).targets.tolist(),
            }
        )
        super()._fit(train, validator)


def test_the_test_target_never_reaches_a_trial(quiet, tmp_path, monkeypatch):
    pytest.importorskip("optuna", reason="seqbench tune needs the [tune] extra (optuna)")
    from seqrec_bench.data import LeaveOneOutSplit, load_dataset
    from seqrec_bench.tune import run_tuning

    real = registry.get_model_class
    monkeypatch.setattr(registry, "get_model_class", lambda n: Probe if n == "markov" else real(n))

    def forbidden(self):
        raise AssertionError("a tuning code path read the test targets")

    # nothing in a study may ask for the test targets (the final evaluation's only door)
    monkeypatch.setattr(LeaveOneOutSplit, "test_targets", forbidden)
    Probe.seen = []
    out = run_tuning(_cfg(tmp_path / "t", trials=3), *quiet)
    monkeypatch.undo()
    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    split = LeaveOneOutSplit.from_sequences(
        load_dataset("synthetic", **json.loads(json.dumps(SMALL))).sequences
    )
    assert len(Probe.seen) == 3
    for seen in Probe.seen:
        assert seen["train"] == split.train.to_lists()  # s_1 .. s_{n-2}: no held-out item
        assert seen["valid_inputs"] == split.train.to_lists()  # not the test inputs
        assert seen["valid_targets"] == split.valid_targets.tolist()
    for cell in ResultsDir(out).scan()[0]:
        assert "test" not in cell.record
        assert len(cell.ranks) == split.n_users  # validation ranks


def test_equal_budgets_are_enforced(quiet, tmp_path):
    pytest.importorskip("optuna", reason="seqbench tune needs the [tune] extra (optuna)")
    from seqrec_bench.tune import read_tuning, run_tuning

    out = run_tuning(_cfg(tmp_path / "n", models=("markov", "pop"), trials=3), *quiet)
    record, trials = read_tuning(out)
    assert record["settings"]["budget"] == "3 trials per model"
    assert {m["label"]: m["trials_run"] for m in record["models"]} == {"markov": 3, "pop": 1}
    assert record["models"][1]["space_text"] == "nothing to tune"
    # the same trial time per model: a model stops at the first trial that starts after its
    # budget is spent (a started trial finishes)
    budget = 0.3 / 60  # 0.3 s of trial time
    out = run_tuning(
        _cfg(tmp_path / "b", models=("markov",), trials=None, budget_minutes=budget), *quiet
    )
    record, trials = read_tuning(out)
    assert record["settings"]["budget"] == f"{budget:g} min of trial time per model"
    times = [trials["markov"][n].record["times"]["trial_seconds"] for n in sorted(trials["markov"])]
    assert sum(times) >= budget * 60 and sum(times[:-1]) < budget * 60
    assert record["models"][0]["trials_run"] == len(times) >= 1


@pytest.mark.slow
def test_tune_then_run_tuned_then_table_and_plot(tmp_path, monkeypatch):
    pytest.importorskip("optuna", reason="seqbench tune needs the [tune] extra (optuna)")
    from typer.testing import CliRunner

    from seqrec_bench.cli import app

    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")
    out = tmp_path / "tuned"
    synthetic = [a for k, v in SMALL["synthetic"].items() for a in ("--synthetic", f"{k}={v}")]
    base = ["tune", "--models", "markov,pop", "--dataset", "synthetic", *synthetic]
    dry = CliRunner().invoke(app, [*base, "--trials", "3", "-o", str(out), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "3 trial(s)" in dry.output and not out.exists()
    result = CliRunner().invoke(app, [*base, "--trials", "3", "-o", str(out), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "3 trials per model" in result.output and "nothing to tune" in result.output
    dry = CliRunner().invoke(app, [*base, "--trials", "3", "-o", str(out), "--dry-run"])
    assert "0 trial(s)" in dry.output
    table = CliRunner().invoke(app, ["table", str(out), "--tuning", "--format", "json"])
    assert table.exit_code == 0, table.output
    summary = json.loads(table.output)
    best = {r["model"]: r for r in summary["models"]}
    assert best["markov"]["trials"] == 3 and best["pop"]["best_params"] == {}
    run = CliRunner().invoke(app, ["run", "--tuned", str(out), "--seeds", "0,1"])
    assert run.exit_code == 0, run.output
    assert "tuning markov: 3 trials run" in run.output
    assert "same budget for every model (3 trials per model" in run.output
    cells = ResultsDir(out / "run").scan()[0]
    markov = [c for c in cells if c.label == "markov"]
    assert len(markov) == 2
    from seqrec_bench.tune import read_tuning

    record, trials = read_tuning(out)
    chosen = record["models"][0]["best"]
    assert markov[0].identity.fields["config"] == chosen["config"]
    assert markov[0].identity.fields.get("trial") is None  # a run cell, not a trial
    md = (out / "run" / "table.md").read_text()
    assert "tuning pop: nothing to tune: defaults (1 trial)" in md
    verify = CliRunner().invoke(app, ["verify", str(out)])
    assert verify.exit_code == 2 and "is a tuning folder" in verify.output
    bad = CliRunner().invoke(app, ["run", "--tuned", str(out), "--dataset", "ml-1m"])

    assert bad.exit_code == 2 and "--tuned takes its data set from the tuning folder" in bad.output
    pytest.importorskip("matplotlib", reason="seqbench plot needs the [plots] extra")
    plot = CliRunner().invoke(app, ["plot", str(out)])
    assert plot.exit_code == 0, plot.output
    assert (out / "figures" / "tuning_curves.png").exists()
    assert not math.isnan(best["markov"]["best_value"])


@pytest.mark.slow
def test_parallel_trials_on_processes_and_ray_propose_the_same(quiet, tmp_path):
    pytest.importorskip("optuna", reason="seqbench tune needs the [tune] extra (optuna)")
    from seqrec_bench.tune import run_tuning

    cfg = _cfg(tmp_path / "jobs", trials=4)
    cfg.run.jobs = 2  # asked two at a time: trials 2 and 3 both see trials 0 and 1
    by_jobs = _trials(run_tuning(cfg, *quiet))
    pytest.importorskip("ray", reason="--executor ray needs the [ray] extra")
    cfg = _cfg(tmp_path / "ray", trials=4)
    cfg.run.jobs, cfg.run.executor = 2, "ray"
    assert _trials(run_tuning(cfg, *quiet)) == by_jobs


def test_an_experiment_file_carries_its_tune_tables(tmp_path, monkeypatch):
    pytest.importorskip("optuna", reason="seqbench tune needs the [tune] extra (optuna)")
    from typer.testing import CliRunner

    from seqrec_bench.cli import app
    from seqrec_bench.config import load_run_config
    from seqrec_bench.tune import read_tuning

    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")
    exp = tmp_path / "exp.toml"
    exp.write_text(
        "seeds = [0, 1, 2]\n[[datasets]]\nsource = 'synthetic'\n"
        "synthetic = { n_users = 200, n_items = 50 }\n"
        "[models.markov]\n[models.markov2]\nmodel = 'markov'\norder = 2\n"
        "[tune.markov]\nreplace = true\nalpha = [0.1, 1.0]\n"
    )
    assert [m.label for m in load_run_config(exp).models] == ["markov", "markov2"]  # run ignores it
    out = tmp_path / "t"
    args = ["tune", "--config", str(exp), "--trials", "2", "-o", str(out), "--threads", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record, trials = read_tuning(out)
    # the table names the model, so both rows search it; markov2's order is fixed by its table
    assert [m["space_text"] for m in record["models"]] == ["alpha {0.1, 1}"] * 2
    assert {t.record["requested_config"]["order"] for t in trials["markov2"].values()} == {2}
    assert all(len(t) == 2 for t in trials.values())
