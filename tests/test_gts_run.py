"""The global temporal split in a run: key, card, per-user averaging, and nothing after the
boundary reaching a model's fit (docs/protocol.md §2b)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seqrec_bench.cell import run_cell
from seqrec_bench.config import (
    ConfigError,
    DatasetSpec,
    ExperimentError,
    ModelSpec,
    RunConfig,
    SplitSpec,
    merge_cli,
    parse_run_config,
)
from seqrec_bench.plan import build_plan
from seqrec_bench.runner import run_experiment
from seqrec_bench.store import ResultsDir


def write_log(path: Path, *, seed: int = 0, n_users: int = 120, perturb_from: float | None = None):
    """A timestamped log of users walking a 20-item cycle; items at or after ``perturb_from``
    are replaced by random ones (same users, same timestamps)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start, length = int(rng.integers(20)), int(rng.integers(4, 12))
        t = int(rng.integers(0, 100 * 86400))
        for k in range(length):
            t += int(rng.integers(3600, 4 * 86400))
            rows.append((u, (start + k) % 20 + 1, t))
    other = np.random.default_rng(99)
    lines = ["user,item,timestamp"]
    for u, i, t in rows:
        if perturb_from is not None and t >= perturb_from:
            i = int(other.integers(1, 21))
        lines.append(f"{u},{i},{t}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def quiet(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")
    from rich.console import Console

    return Console(file=open("/dev/null", "w")), Console(file=open("/dev/null", "w"))


def _cfg(log: Path, split: SplitSpec, models=("pop", "markov"), out: Path | None = None):
    return RunConfig(
        datasets=[DatasetSpec(str(log), label="log")],
        models=[ModelSpec(m, m) for m in models],
        split=split,
        output=out,
        ks=[5, 10],
    )


def test_a_gts_run_keys_its_cells_by_the_split_and_states_it_on_the_card(quiet, tmp_path):
    log = write_log(tmp_path / "log.csv")
    out = tmp_path / "gts"
    run_experiment(_cfg(log, SplitSpec("gts", target="all"), out=out), *quiet)
    cells, problems = ResultsDir(out).scan()
    assert not problems and len(cells) == 2
    fields = cells[0].identity.fields
    assert fields["split"] == "gts"
    assert fields["split_options"] == {
        "q": 0.9,
        "boundary": None,
        "target": "all",
        "valid": "by_time",
    }
    record = json.loads((out / "datasets" / "log.json").read_text())["split"]
    assert record["kind"] == "gts" and record["test_targets"] > record["test_users"]
    for cell in cells:  # one rank per (user, target) pair, with its owner
        assert cell.owner is not None and len(cell.owner) == record["test_targets"]
        assert cell.record["users"] == record["test_users"]
    table = json.loads((out / "table.json").read_text())
    card = table["card"]
    assert "global temporal split" in card["split"]
    assert f"T = {record['boundary']}" in card["gts boundary (log)"]
    assert "metrics averaged per user first" in card["gts test (log)"]
    assert not any(k.startswith("leakage") for k in card)  # a leave-one-out figure
    # the table's mean is over users, each user's targets averaged first
    pop = next(c for c in cells if c.label == "pop")
    hits = (pop.ranks <= 10).astype(float)
    per_user = [hits[pop.owner == u].mean() for u in np.unique(pop.owner)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["models"]["pop"]["HR@10"] == pytest.approx(np.mean(per_user))
    assert np.mean(per_user) != pytest.approx(hits.mean())  # the pair mean would differ here


def test_leave_one_out_and_gts_cells_never_share_a_row(quiet, tmp_path):
    log = write_log(tmp_path / "log.csv")
    out = tmp_path / "both"
    run_experiment(_cfg(log, SplitSpec(), models=("pop",), out=out), *quiet)
    run_experiment(_cfg(log, SplitSpec("gts"), models=("pop",), out=out), *quiet)
    cells, _ = ResultsDir(out).scan()
    assert sorted(c.identity.fields["split"] for c in cells) == ["gts", "leave-one-out"]
    assert len({c.identity.variant for c in cells}) == 2


@pytest.mark.parametrize("valid", ["by_time", "by_users"])
def test_nothing_after_the_fit_boundary_reaches_fit(quiet, tmp_path, valid):
    """Perturb every interaction the model may not learn from: its fitted state is unchanged."""
    base = write_log(tmp_path / "a.csv")
    split = SplitSpec("gts", valid=valid)
    plan = build_plan(_cfg(base, split, models=("markov",)))
    data = plan.data["log"]
    gts = data.split
    cut = gts.valid_boundary if valid == "by_time" else gts.boundary
    changed = write_log(tmp_path / "b.csv", perturb_from=cut)
    other = build_plan(_cfg(changed, split, models=("markov",))).data["log"]
    assert not np.array_equal(other.split.test_targets(), gts.test_targets())  # targets moved
    np.testing.assert_array_equal(other.split.train.items, gts.train.items)
    np.testing.assert_array_equal(other.split.train.offsets, gts.train.offsets)
    assert np.all(gts.train.times < cut)

    from seqrec_bench.models import MarkovModel

    states = []
    for d in (data, other):
        model = MarkovModel(select_on_validation=False).fit(d.split.train)
        states.append(model._first.toarray())
    np.testing.assert_array_equal(states[0], states[1])
    # and through a whole cell: the fitted pop counts are the same
    task = build_plan(_cfg(base, split, models=("pop",))).tasks[0]
    a = run_cell(data, task)
    b = run_cell(other, task)
    assert a.record["validation"] != {} and b.record["times"]["fit_seconds"] >= 0
    if valid == "by_users":  # validation targets are before T and unchanged
        assert a.record["validation"] == b.record["validation"]


def test_gts_refuses_data_without_timestamps_and_sampled_protocols(quiet, tmp_path):
    cfg = RunConfig(
        datasets=[DatasetSpec("synthetic", options={"synthetic": {"n_users": 50}})],
        models=[ModelSpec("pop", "pop")],
        split=SplitSpec("gts"),
    )
    with pytest.raises(ConfigError, match="no timestamps"):
        build_plan(cfg)
    cfg.protocol = "sampled-uniform-10"
    with pytest.raises(ConfigError, match="leave-one-out split only"):
        cfg.check()
    log = write_log(tmp_path / "log.csv")
    with pytest.raises(ConfigError, match="leaves no test users"):
        build_plan(_cfg(log, SplitSpec("gts", boundary=1e15)))
    with pytest.raises(ConfigError, match="--gts-target must be one of"):
        SplitSpec("gts", target="middle").check()


def test_gts_options_from_flags_and_files():
    flags = {"models": "pop", "dataset": "x.csv", "seeds": "0", "k": "10", "split": "gts"}
    cfg = merge_cli(None, {**flags, "gts_target": "first", "gts_q": 0.8}, set())
    assert (cfg.split.kind, cfg.split.target, cfg.split.q) == ("gts", "first", 0.8)
    with pytest.raises(ConfigError, match="--gts-q needs --split gts"):
        merge_cli(None, {**flags, "split": "loo", "gts_q": 0.8}, set())

    data = {
        "split": "gts",
        "gts": {"q": 0.8, "valid": "by_users", "valid_share": 0.2},
        "datasets": [{"source": "x.csv"}],
        "models": {"pop": {}},
    }
    cfg = parse_run_config(data)
    assert cfg.split.options() == {
        "q": 0.8,
        "boundary": None,
        "target": "last",
        "valid": "by_users",
        "valid_share": 0.2,
        "seed": 0,
    }
    with pytest.raises(ExperimentError, match=r'needs split = "gts"'):
        parse_run_config({**data, "split": "loo"})
    with pytest.raises(ExperimentError, match="unknown key"):
        parse_run_config({**data, "gts": {"qq": 1}})
    with pytest.raises(ExperimentError, match="gts.target must be one of"):
        parse_run_config({**data, "gts": {"target": "middle"}})


def test_tuning_under_gts_sees_nothing_after_the_boundary_and_the_tuned_run_keeps_the_split(
    quiet, tmp_path
):
    pytest.importorskip("optuna", reason="the [tune] extra is not installed")
    from seqrec_bench import tune

    log = write_log(tmp_path / "log.csv")
    run = _cfg(log, SplitSpec("gts", valid="by_users"), models=("markov", "recentpop"))
    run.output = tmp_path / "tune"
    seen = []
    real = tune.run_trial

    def spy(data, task, device=None):
        seen.append(data.split)
        return real(data, task, device)

    tune.run_trial = spy
    try:
        tune.run_tuning(tune.TuneConfig(run=run, trials=2), *quiet)
    finally:
        tune.run_trial = real
    assert seen  # every trial went through the spy
    for split in seen:  # the test inputs (interactions at/after T) and targets are withheld
        assert len(split.test_inputs.items) == 0
        assert not split.test_targets().any()
    cells, _ = ResultsDir(tmp_path / "tune").scan()
    assert {c.identity.fields["split"] for c in cells} == {"gts"}
    tuned = tune.tuned_run_config(tmp_path / "tune")
    assert tuned.split == SplitSpec("gts", valid="by_users")
