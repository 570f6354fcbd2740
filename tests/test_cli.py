"""The seqbench CLI end to end on the built-in synthetic data (no network, no ../shared)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from seqrec_bench.cli import app

# small, with a strong first-order signal (the defaults hide theirs behind 35% noise)
SMALL = [
    "--synthetic",
    "n_users=300",
    "--synthetic",
    "n_items=80",
    "--synthetic",
    "mean_length=12",
    "--synthetic",
    "p_successor=0.4",
]


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")
    return CliRunner()


def cell_dir(out, model, seed):
    """The one stored cell of ``model`` and ``seed`` (cells are addressed by config too)."""
    (found,) = (out / "cells" / "synthetic" / model).glob(f"*/seed-{seed}")
    return found


def run_ok(runner, args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_run_writes_results_and_table(runner, tmp_path):
    out = tmp_path / "res"
    result = run_ok(
        runner,
        [
            "run",
            "--models",
            "markov,pop",
            "--dataset",
            "synthetic",
            *SMALL,
            "--seeds",
            "0,1",
            "--k",
            "5,10",
            "--output",
            str(out),
        ],
    )
    assert "NDCG@10" in result.output and "markov" in result.output
    assert "pessimistic" in result.output  # the protocol card
    summary = json.loads((out / "summary.json").read_text())
    for model in ("markov", "pop"):
        assert set(summary["models"][model]) >= {"HR@5", "HR@10", "NDCG@5", "NDCG@10"}
    comp = summary["comparisons"]["NDCG@10"]
    assert comp["reference"] == "markov"
    assert comp["results"]["pop"]["significant"] is True
    assert summary["models"]["markov"]["NDCG@10"] > summary["models"]["pop"]["NDCG@10"]
    for name in ("table.md", "table.tex", "table.csv", "table.json", "manifest.json"):
        assert (out / name).stat().st_size > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["environment"]["torch"] and manifest["settings"]["seeds"] == [0, 1]
    cell = json.loads((cell_dir(out, "markov", 1) / "cell.json").read_text())
    assert cell["users"] == 300 and cell["config"]["order"] == 1
    with np.load(cell_dir(out, "markov", 1) / "ranks.npz") as z:
        ranks = z["ranks"]
    # the stored ranks reproduce the stored metric
    assert cell["test"]["HR@10"] == pytest.approx(float(np.mean(ranks <= 10)))


def test_table_rerenders_every_format(runner, tmp_path):
    out = tmp_path / "res"
    run_ok(
        runner,
        ["run", "--models", "markov,pop", "--dataset", "synthetic", *SMALL, "--output", str(out)],
    )
    md = run_ok(runner, ["table", str(out), "--format", "markdown"]).output
    assert md.lstrip().startswith("| Model")
    tex = run_ok(runner, ["table", str(out), "--format", "latex", "--test", "wilcoxon"]).output
    assert "\\toprule" in tex and "Wilcoxon" in tex and tex.count("{") == tex.count("}")
    csv = run_ok(runner, ["table", str(out), "--format", "csv", "--metrics", "HR@10,MRR"]).output
    assert "MRR" in csv and "HR@10" in csv
    js = json.loads(
        run_ok(runner, ["table", str(out), "--format", "json", "--reference", "pop"]).output
    )
    assert js
    only = run_ok(
        runner, ["table", str(out), "--format", "csv", "--models", "pop", "--seeds", "0"]
    ).output
    assert "pop" in only and "markov" not in only


def test_rerun_skips_completed_cells(runner, tmp_path):
    out = tmp_path / "res"
    args = ["run", "--models", "pop", "--dataset", "synthetic", *SMALL, "--output", str(out)]
    run_ok(runner, args)
    first = (cell_dir(out, "pop", 0) / "cell.json").read_text()
    again = run_ok(runner, args)
    assert "already complete" in again.output
    assert (cell_dir(out, "pop", 0) / "cell.json").read_text() == first
    # a changed config is a different cell: it is recomputed, not skipped
    changed = run_ok(
        runner,
        [
            "run",
            "--models",
            "markov",
            "--dataset",
            "synthetic",
            *SMALL,
            "--output",
            str(out),
            "--set",
            "markov.alpha=0.5",
        ],
    )
    assert "already complete" not in changed.output
    # ... and replacing the folder's tables with another command's is said, with the way back
    said = " ".join(changed.output.split())  # the console wraps long lines
    assert (
        "tables and manifest of" in said
        and "came from" in said
        and "run that command again" in said
    )
    assert "came from" not in again.output  # the same command re-rendering is not news


@pytest.mark.parametrize(
    "args,needle",
    [
        (
            ["run", "--models", "nosuchmodel", "--dataset", "synthetic"],
            "unknown model 'nosuchmodel'",
        ),
        (["run", "--models", "pop", "--dataset", "no/such/file.csv"], "no/such/file.csv"),
        (
            ["run", "--models", "pop", "--dataset", "synthetic", "--k", "5000", *SMALL],
            "larger than",
        ),
        (
            [
                "run",
                "--models",
                "markov",
                "--dataset",
                "synthetic",
                "--set",
                "markov.nope=1",
                *SMALL,
            ],
            "valid keys",
        ),
        (
            ["run", "--models", "markov", "--dataset", "synthetic", "--set", "oops", *SMALL],
            "MODEL.PARAM=VALUE",
        ),
        (["run", "--models", "pop", "--dataset", "synthetic", "--synthetic", "bogus=1"], "bogus"),
        (["table", "/no/such/results"], "does not exist"),
    ],
)
def test_user_errors_are_one_line(runner, tmp_path, args, needle):
    result = runner.invoke(
        app, [*args, *(["--output", str(tmp_path / "o")] if args[0] == "run" else [])]
    )
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_debug_shows_traceback(runner):
    from seqrec_bench.registry import UnknownModelError

    plain = runner.invoke(app, ["run", "--models", "nosuchmodel", "--dataset", "synthetic"])
    assert plain.exit_code == 2 and isinstance(plain.exception, SystemExit)
    result = runner.invoke(
        app, ["--debug", "run", "--models", "nosuchmodel", "--dataset", "synthetic"]
    )
    # with --debug the error is not turned into a line: it propagates with its traceback
    assert isinstance(result.exception, UnknownModelError)
    assert result.exc_info is not None and result.exc_info[2] is not None
    assert "error:" not in result.output


def test_a_bug_says_internal_error_not_user_error(runner, tmp_path, monkeypatch):
    """Only SeqbenchError is the user's; any other exception is reported as a bug."""
    from seqrec_bench.report import runs

    out = tmp_path / "o"
    run_ok(runner, ["run", "--models", "pop", "--dataset", "synthetic", *SMALL, "-o", str(out)])

    def broken(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(runs, "build_report", broken)
    result = runner.invoke(app, ["table", str(out)])
    assert result.exit_code == 1
    assert "internal error: KeyError: oops; rerun with --debug" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_output_pointing_at_a_file_is_one_line(runner, tmp_path):
    target = tmp_path / "afile"
    target.write_text("x")
    result = runner.invoke(
        app, ["run", "--models", "pop", "--dataset", "synthetic", *SMALL, "-o", str(target)]
    )
    assert result.exit_code == 2 and "is a file" in result.output
    assert "Traceback" not in result.output


def test_models_and_datasets_listings(runner):
    models = run_ok(runner, ["models"]).output
    for name in ("pop", "markov"):
        assert name in models
    assert "alpha" in run_ok(runner, ["models", "markov"]).output
    assert "ml-1m" in run_ok(runner, ["datasets"]).output


def test_prepare_prints_statistics(runner):
    result = run_ok(runner, ["prepare", "synthetic", *SMALL])
    assert "300" in result.output


def test_sampled_protocol_runs(runner, tmp_path):
    out = tmp_path / "res"
    run_ok(
        runner,
        [
            "run",
            "--models",
            "pop,markov",
            "--dataset",
            "synthetic",
            *SMALL,
            "--synthetic",
            "n_items=400",
            "--protocol",
            "sampled-pop-100",
            "--k",
            "10",
            "--output",
            str(out),
        ],
    )
    cell = json.loads((cell_dir(out, "pop", 0) / "cell.json").read_text())
    with np.load(cell_dir(out, "pop", 0) / "ranks.npz") as z:
        assert z["ranks"].max() <= 101
    assert cell["protocol"] == "sampled-pop-100"
    assert "sampled-pop-100" in (out / "table.md").read_text()


def test_sampled_protocols_take_any_n(runner, tmp_path):
    """docs/protocol.md describes sampled-uniform-N / sampled-pop-N for any N, so does the CLI."""
    out = tmp_path / "n49"
    args = ["run", "--models", "pop", "--dataset", "synthetic", *SMALL, "--k", "10", "-o", str(out)]
    run_ok(runner, [*args, "--protocol", "sampled-uniform-29"])
    with np.load(cell_dir(out, "pop", 0) / "ranks.npz") as z:
        reachable = z["ranks"][z["ranks"] < 2**31 - 1]
        assert len(reachable) and reachable.max() <= 30
    bad = runner.invoke(app, [*args, "--protocol", "sampled-49"])
    assert bad.exit_code == 2 and "valid: full, sampled-uniform-N" in bad.output


@pytest.mark.slow
def test_quiet_run_prints_no_progress_but_the_table(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("SEQBENCH_PROGRESS")  # stderr is not a terminal: epoch lines by default
    args = ["run", "--models", "pop,transformer", "--dataset", "synthetic", *SMALL]
    tiny = [
        "--set",
        "transformer.hidden=8",
        "--set",
        "transformer.max_len=8",
        "--set",
        "transformer.max_epochs=2",
    ]
    loud = run_ok(runner, [*args, *tiny, "-o", str(tmp_path / "a")])
    assert "transformer seed 0 epoch 1/2: loss" in loud.output  # a piped run talks
    assert "[1/2] synthetic/pop seed 0" in loud.output
    quiet = run_ok(runner, [*args, *tiny, "-o", str(tmp_path / "b"), "--quiet"])
    assert "epoch 1/2" not in quiet.output and "[1/2]" not in quiet.output
    assert "NDCG@10" in quiet.output  # the table still prints


def test_local_file_end_to_end(runner, tmp_path, rng):
    lines = ["user_id,item_id,timestamp"]
    for u in range(60):
        start = int(rng.integers(0, 20))
        for t in range(8):
            lines.append(f"u{u},item{(start + t) % 20},{1000 + t}")
    path = tmp_path / "log.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "res"
    result = run_ok(
        runner,
        ["run", "--models", "markov,pop", "--dataset", str(path), "--output", str(out), "--k", "5"],
    )
    assert "log.csv" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["models"]["markov"]["HR@5"] == pytest.approx(1.0)


def _noisy_log(rng, n_users=80, length=10, n_items=30):
    rows = []
    for u in range(n_users):
        for t in range(length):
            rows.append(f"u{u},i{int(rng.integers(0, n_items))},{1000 + t}")
    return rows


def test_duplicate_records_are_dropped_with_a_warning_not_scored(runner, tmp_path, rng):
    """A log with every row twice gave markov HR@10 = NDCG@10 = 1.0 before, silently."""
    rows = _noisy_log(rng)
    once, twice = tmp_path / "once.csv", tmp_path / "twice.csv"
    once.write_text("user,item,timestamp\n" + "\n".join(rows) + "\n")
    twice.write_text("user,item,timestamp\n" + "\n".join(r for r in rows for _ in (0, 1)) + "\n")

    def ndcg(path, *extra):
        out = tmp_path / f"res-{path.stem}-{len(extra)}"
        result = run_ok(
            runner,
            [
                "run",
                "--models",
                "markov",
                "--dataset",
                str(path),
                "-o",
                str(out),
                "--k",
                "10",
                *extra,
            ],
        )
        return json.loads((out / "summary.json").read_text())["models"]["markov"][
            "NDCG@10"
        ], result.output

    clean, _ = ndcg(once)
    dropped, said = ndcg(twice)
    said = " ".join(said.split())
    assert dropped == pytest.approx(clean)  # the duplicates are gone
    assert "duplicates: 800 dropped" in said and "warning:" in said and "exact duplicates" in said
    kept, said = ndcg(twice, "--duplicates", "keep")
    # kept, every duplicate target repeats its input: unreachable under seen-item exclusion
    # (it was a free hit, NDCG@10 = 1.0, before PROTOCOL §3 was corrected); the run says so
    assert kept < clean / 2
    assert "numbers are distorted" in " ".join(said.split())


def test_columns_option_names_the_columns(runner, tmp_path, rng):
    rows = [r.split(",") for r in _noisy_log(rng)]
    path = tmp_path / "odd.csv"
    path.write_text("when;who;what\n" + "\n".join(f"{t};{u};{i}" for u, i, t in rows) + "\n")
    out = tmp_path / "res"
    bad = runner.invoke(app, ["run", "--models", "pop", "--dataset", str(path), "-o", str(out)])
    assert bad.exit_code == 2 and "--columns user=COL,item=COL,time=COL" in bad.output
    run_ok(
        runner,
        [
            "run",
            "--models",
            "pop",
            "--dataset",
            str(path),
            "-o",
            str(out),
            "--columns",
            "user=who,item=what,time=when",
        ],
    )
    run_ok(runner, ["prepare", str(path), "--columns", "user=1,item=2,time=0"])
    wrong = runner.invoke(
        app, ["run", "--models", "pop", "--dataset", str(path), "--columns", "user=who,thing=what"]
    )
    assert wrong.exit_code == 2 and "unknown role 'thing'" in wrong.output


def test_damaged_ranks_are_a_warning_in_table_and_retrained_by_run(runner, tmp_path):
    out = tmp_path / "res"
    args = ["run", "--models", "markov,pop", "--dataset", "synthetic", *SMALL, "-o", str(out)]
    run_ok(runner, args)
    table = run_ok(runner, ["table", str(out), "--format", "csv"]).output
    damaged = cell_dir(out, "markov", 0) / "ranks.npz"
    damaged.write_bytes(damaged.read_bytes()[:50])
    result = run_ok(runner, ["table", str(out), "--format", "csv"])
    said = " ".join(result.output.split())
    assert "warning: skipped an unreadable cell" in said and "ranks.npz" in said
    assert "Traceback" not in result.output and "pop" in result.output
    again = run_ok(runner, args)
    assert "[1/1] synthetic/markov seed 0" in again.output  # exactly the damaged cell
    assert run_ok(runner, ["table", str(out), "--format", "csv"]).output == table


def test_repeat_targets_are_unreachable_by_default_and_reported_apart_on_request(
    runner, tmp_path, rng
):
    """PROTOCOL §3: a target repeating an input item is never a free hit; --repeat-split shows it."""
    lines, repeats = ["user,item,timestamp"], 0
    for u in range(120):
        items = list(rng.choice(np.arange(60), size=9, replace=False))
        if u % 10 == 0:  # a tenth of the users: the last item repeats an earlier one
            items[-1], repeats = items[2], repeats + 1
        lines += [f"u{u},i{i},{1000 + t}" for t, i in enumerate(items)]
    path = tmp_path / "rep.csv"
    path.write_text("\n".join(lines) + "\n")
    strict = run_ok(
        runner, ["run", "--models", "markov,pop", "--dataset", str(path), "-o", str(tmp_path / "s")]
    )
    said = " ".join(strict.output.split())
    assert (
        f"targets unreachable under seen-item exclusion (rep.csv): {repeats / 120:.1%} ({repeats} of 120 users)"
        in said
    )
    refused = runner.invoke(app, ["table", str(tmp_path / "s"), "--repeat-split"])
    assert refused.exit_code == 2 and "--no-exclude-seen" in refused.output
    run_ok(
        runner,
        [
            "run",
            "--models",
            "markov,pop",
            "--dataset",
            str(path),
            "--no-exclude-seen",
            "-o",
            str(tmp_path / "a"),
        ],
    )
    split = run_ok(
        runner, ["table", str(tmp_path / "a"), "--repeat-split", "--format", "json"]
    ).output
    data = json.loads(split)
    names = " ".join(map(str, data.get("datasets", []))) if "datasets" in data else split
    assert (
        f"repeat targets ({repeats:,} users)" in names
        and f"novel targets ({120 - repeats:,} users)" in names
    )


def test_help_is_never_cut():
    """Piped --help (a file, CI) was folded to 80 columns and cut option texts with '…'."""
    import os
    import subprocess
    import sys

    script = (
        "import contextlib, sys\n"
        "from seqrec_bench.cli import main\n"
        "for command in ('run', 'table', 'prepare', 'check', 'plot', 'verify', 'tune'):\n"
        "    sys.argv = ['seqbench', command, '--help']\n"
        "    print('=== ' + command, flush=True)\n"
        "    with contextlib.suppress(SystemExit):\n"
        "        main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    text = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert text.count("Usage") == 7
    assert "…" not in text


def test_tie_order_option_reorders_same_timestamp_interactions(runner, tmp_path, rng):
    lines = ["user,item,timestamp"]
    for u in range(100):  # every interaction of a user at one of two timestamps: ties everywhere
        lines += [
            f"u{u},i{int(i)},{1000 + t // 4}"
            for t, i in enumerate(rng.choice(60, size=8, replace=False))
        ]
    path = tmp_path / "ties.csv"
    path.write_text("\n".join(lines) + "\n")
    ranks = {}
    for order in ("file", "item", "random"):
        out = tmp_path / order
        run_ok(
            runner,
            [
                "run",
                "--models",
                "pop",
                "--dataset",
                str(path),
                "--tie-order",
                order,
                "-o",
                str(out),
            ],
        )
        with np.load(next(out.glob("cells/*/pop/*/seed-0/ranks.npz"))) as z:
            ranks[order] = z["ranks"]
        record = json.loads(next(out.glob("datasets/*.json")).read_text())
        assert record["options"].get("tie_order") == (None if order == "file" else order)
    assert not np.array_equal(ranks["file"], ranks["item"])
    bad = runner.invoke(
        app, ["run", "--models", "pop", "--dataset", "synthetic", "--tie-order", "item"]
    )
    assert bad.exit_code == 2 and "no timestamps" in bad.output


def test_run_deterministic_flag_reaches_the_manifest(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    out = tmp_path / "out"
    run_ok(
        runner,
        [
            "run",
            "--models",
            "pop",
            "--dataset",
            "synthetic",
            *SMALL,
            "-o",
            str(out),
            "--deterministic",
            "-q",
        ],
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["deterministic"] is True
    assert manifest["determinism"]["cublas_workspace_config"] == ":4096:8"
