"""The ``seqbench`` command line.

Heavy imports (torch, pandas, scipy) happen inside commands so that ``seqbench --help`` is instant.
Errors a user can cause print one line on stderr and exit with status 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console

__all__ = ["app", "main"]

app = typer.Typer(
    name="seqbench",
    help="Benchmark sequential recommenders under one leave-one-out protocol.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Piped output (files, CI logs) gets a wide console so tables are not folded at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)
_state = {"debug": False}


class TableFormat(StrEnum):
    console = "console"
    markdown = "markdown"
    latex = "latex"
    csv = "csv"
    json = "json"


class TestName(StrEnum):
    ttest = "ttest"
    permutation = "permutation"
    wilcoxon = "wilcoxon"


class Correction(StrEnum):
    holm = "holm"
    bonferroni = "bonferroni"
    bh = "bh"
    none = "none"


class Executor(StrEnum):
    local = "local"
    ray = "ray"


class TieOrder(StrEnum):
    file = "file"
    item = "item"
    random = "random"


class Duplicates(StrEnum):
    drop = "drop"
    keep = "keep"


class DataFormat(StrEnum):
    interactions = "interactions"
    sequences = "sequences"


ColumnsOption = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Columns of a log file, e.g. user=uid,item=sku,time=ts (roles user, item, time and "
        "an optional rating; each a header name or a 0-based position).",
    ),
]
TieOrderOption = Annotated[
    TieOrder | None,
    typer.Option(
        "--tie-order",
        help="Order of a user's interactions with the same timestamp: file (default, the "
        "source order), item (by item id) or random (seeded) - to see how much ties move a result.",
    ),
]
DuplicatesOption = Annotated[
    Duplicates | None,
    typer.Option(
        "--duplicates",
        help="Exact duplicate records (same user, item, timestamp): drop (default) or keep.",
    ),
]


# Options shared by `run` and `tune` (one definition, one help text).
ModelsOption = Annotated[
    str,
    typer.Option("--models", "-m", help="Comma-separated model names (see `seqbench models`)."),
]
FormatOption = Annotated[
    DataFormat | None,
    typer.Option("--format", help="Format of a local file (auto-detected when omitted)."),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Folder (or zip) with already-downloaded data."),
]
DeviceOption = Annotated[
    str, typer.Option("--device", help="auto (cuda > mps > cpu), cpu, cuda or cuda:N.")
]
SyntheticOption = Annotated[
    list[str] | None,
    typer.Option(
        "--synthetic",
        help="Synthetic generator option KEY=VALUE, e.g. n_users=500 (repeatable; see `seqbench datasets`).",
    ),
]
MinUserOption = Annotated[
    int | None,
    typer.Option(
        "--min-user-interactions",
        help="k-core threshold for users (default: the data set's preset).",
    ),
]
MinItemOption = Annotated[
    int | None,
    typer.Option(
        "--min-item-interactions",
        help="k-core threshold for items (default: the data set's preset).",
    ),
]


SplitOption = Annotated[
    str,
    typer.Option(
        "--split",
        help="loo (leave-one-out, the default) or gts (global temporal split at a time "
        "boundary; timestamped data; docs/protocol.md §2b).",
    ),
]
GtsQOption = Annotated[
    float | None,
    typer.Option("--gts-q", help="gts: the boundary's quantile of all timestamps (0.9)."),
]
GtsBoundaryOption = Annotated[
    float | None,
    typer.Option("--gts-boundary", help="gts: an explicit boundary timestamp instead of q."),
]
GtsTargetOption = Annotated[
    str | None,
    typer.Option(
        "--gts-target",
        help="gts: each test user's target among their interactions after the boundary: "
        "last (default), first, random or all.",
    ),
]
GtsValidOption = Annotated[
    str | None,
    typer.Option(
        "--gts-valid",
        help="gts validation: by_time (a second boundary inside training, the default) or "
        "by_users (held-out users).",
    ),
]
GtsValidShareOption = Annotated[
    float | None,
    typer.Option("--gts-valid-share", help="gts by_users: the share of users held out (0.1)."),
]
GtsSeedOption = Annotated[
    int | None,
    typer.Option(
        "--gts-seed",
        help="gts: the seed of random targets and of by_users (0; the same for every model seed).",
    ),
]


def _split_flags(
    split: str,
    q: float | None,
    boundary: float | None,
    target: str | None,
    valid: str | None,
    valid_share: float | None,
    seed: int | None,
) -> dict[str, Any]:
    """The split options of ``run`` and ``tune`` as :func:`~seqrec_bench.config.merge_cli` flags."""
    return {
        "split": split.strip().lower(),
        "gts_q": q,
        "gts_boundary": boundary,
        "gts_target": target.strip().lower() if target else None,
        "gts_valid": valid.strip().lower() if valid else None,
        "gts_valid_share": valid_share,
        "gts_seed": seed,
    }


def _dataset_options(
    synthetic: list[str] | None,
    columns: str | None,
    duplicates: Duplicates | None,
    tie_order: TieOrder | None = None,
    **filters: Any,
) -> dict[str, Any]:
    """The ``load_dataset`` options of ``prepare`` and ``check`` (``run`` goes through config)."""
    options: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
    if synthetic:
        options["synthetic"] = _key_values(synthetic, "--synthetic")
    if columns:
        from seqrec_bench.data import parse_columns

        options["columns"] = parse_columns(columns)
    if duplicates:
        options["duplicates"] = duplicates.value
    if tie_order:
        options["tie_order"] = tie_order.value
    return options


def _comma_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _int_list(value: str, option: str) -> list[int]:
    try:
        items = [int(v) for v in _comma_list(value)]
    except ValueError:
        raise typer.BadParameter(
            f"{option} expects comma-separated integers, got {value!r}"
        ) from None
    if not items:
        raise typer.BadParameter(f"{option} needs at least one value")
    return items


def _key_values(items: list[str], option: str) -> dict[str, str]:
    from seqrec_bench.config import parse_key_values

    return parse_key_values(items, option)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    msg = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, KeyError) and msg.startswith("'") and msg.endswith("'"):
        msg = msg[1:-1]
    return msg


@contextlib.contextmanager
def _errors():
    """One line on stderr for every error: exit 2 for the user's, 1 for a bug.

    A :class:`~seqrec_bench.errors.SeqbenchError` is the user's to fix (a bad value, file or
    folder) and an ``OSError`` names the path it failed on; anything else is a bug and says so.
    ``--debug`` shows the traceback instead.
    """
    from rich.markup import escape

    from seqrec_bench.errors import SeqbenchError

    try:
        yield
    except (typer.Exit, click.ClickException):
        raise  # click prints its own usage errors
    except KeyboardInterrupt:
        err.print("interrupted; completed cells are kept, rerun the same command to resume")
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - classified below
        if _state["debug"]:
            for failure in getattr(exc, "failures", []):
                if failure.traceback:
                    err.print(f"{failure.identity.describe()}:", highlight=False)
                    err.print(failure.traceback, markup=False, highlight=False)
            raise
        if isinstance(exc, SeqbenchError):
            err.print(f"[bold red]error:[/] {escape(_first_line(exc))}", highlight=False)
            raise typer.Exit(2) from None
        if isinstance(exc, OSError) and (exc.filename or exc.strerror):
            where = f"{exc.filename}: " if exc.filename else ""
            err.print(
                f"[bold red]error:[/] {escape(where + (exc.strerror or _first_line(exc)))}",
                highlight=False,
            )
            raise typer.Exit(2) from None
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {escape(_first_line(exc))}; "
            "rerun with --debug for the traceback",
            highlight=False,
        )
        raise typer.Exit(1) from None


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    _state["debug"] = debug


@app.command()
def run(
    ctx: typer.Context,
    models: ModelsOption = "",
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset",
            "-d",
            help="Named data set (ml-1m, ml-100k, ml-20m, synthetic) or a file path.",
        ),
    ] = "ml-1m",
    fmt: FormatOption = None,
    data_dir: DataDirOption = None,
    seeds: Annotated[
        str, typer.Option("--seeds", help="Comma-separated seeds; every model runs once per seed.")
    ] = "0",
    k: Annotated[str, typer.Option("--k", help="Cut-offs for HR@k / NDCG@k.")] = "5,10,20",
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="full (ranking every item, the default) or a legacy sampled protocol: "
            "sampled-uniform-N / sampled-pop-N (N negatives per user, e.g. sampled-pop-100).",
        ),
    ] = "full",
    exclude_seen: Annotated[
        bool,
        typer.Option(
            "--exclude-seen/--no-exclude-seen",
            help="Remove the user's input items from the candidates.",
        ),
    ] = True,
    split: SplitOption = "loo",
    gts_q: GtsQOption = None,
    gts_boundary: GtsBoundaryOption = None,
    gts_target: GtsTargetOption = None,
    gts_valid: GtsValidOption = None,
    gts_valid_share: GtsValidShareOption = None,
    gts_seed: GtsSeedOption = None,
    device: DeviceOption = "auto",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Results folder (default: a folder under results/ named after the data set, the protocol and a hash; rerunning resumes it).",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Config override MODEL.PARAM=VALUE (repeatable)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML experiment file (datasets x models x seeds); flags given on the command line override it.",
        ),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference", help="Reference model for the tests (default: best per column)."
        ),
    ] = None,
    test: Annotated[
        TestName, typer.Option("--test", help="Paired test over users.")
    ] = TestName.ttest,
    correction: Annotated[
        Correction, typer.Option("--correction", help="Multiple-comparison correction.")
    ] = Correction.holm,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    min_rating: Annotated[
        float | None, typer.Option("--min-rating", help="Drop interactions rated below this.")
    ] = None,
    min_user: MinUserOption = None,
    min_item: MinItemOption = None,
    columns: ColumnsOption = None,
    duplicates: DuplicatesOption = None,
    tie_order: TieOrderOption = None,
    synthetic: SyntheticOption = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            help="Cells run at once, each in its own worker process (several GPUs: one per worker).",
        ),
    ] = 1,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            help="Torch CPU threads per cell (default: cores / jobs); recorded in each cell.",
        ),
    ] = None,
    executor: Annotated[
        Executor,
        typer.Option(
            "--executor",
            help="local (this machine: in-process, or --jobs worker processes) or ray (each cell a Ray task).",
        ),
    ] = Executor.local,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster: auto (this machine's), ray://host:port, or empty for a local one started for the run.",
        ),
    ] = None,
    cpus_per_cell: Annotated[
        float,
        typer.Option(
            "--cpus-per-cell", help="CPUs Ray reserves per cell (also the default --threads)."
        ),
    ] = 1.0,
    gpus_per_cell: Annotated[
        float | None,
        typer.Option(
            "--gpus-per-cell",
            help="GPUs per cell under Ray, fractions allowed (e.g. 0.25); default 1 on CUDA, else 0.",
        ),
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option("--max-concurrent", help="At most this many Ray cells at once.")
    ] = None,
    retries: Annotated[
        int,
        typer.Option(
            "--retries", help="Retries of a Ray cell whose worker died (killed, OOM, node lost)."
        ),
    ] = 2,
    control: Annotated[
        list[str] | None,
        typer.Option(
            "--control",
            help="Add each model under a control as its own row, tested against it on the card: "
            "shuffle (each user's order shuffled; a model that does not lose has learnt no order).",
        ),
    ] = None,
    deterministic: Annotated[
        bool,
        typer.Option(
            "--deterministic",
            help="Torch's deterministic algorithms and cuBLAS's fixed workspace in every cell: two "
            "CUDA runs of a seed give the same ranks (slower on CUDA; no effect on CPU numbers).",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No progress lines (epochs, cells); warnings and the table still print.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (complete / to run / stale cells) against the results folder; train nothing.",
        ),
    ] = False,
    tuned: Annotated[
        Path | None,
        typer.Option(
            "--tuned",
            help="A `seqbench tune` folder: run its data set with every model's best config "
            "(--models picks some); the table states the tuning budget (default --output: DIR/run).",
        ),
    ] = None,
) -> None:
    """Train and evaluate every (model, seed), print the table and store the results.

    Example: seqbench run --models transformer,gru,markov --dataset synthetic
    """

    def given(name: str) -> bool:
        src = ctx.get_parameter_source(name)
        return src is not None and src.name == "COMMANDLINE"

    with _errors():
        from seqrec_bench.config import load_run_config, merge_cli
        from seqrec_bench.runner import run_experiment

        flags = {
            "models": models,
            "dataset": dataset,
            "fmt": fmt.value if fmt else None,
            "data_dir": data_dir,
            "seeds": seeds,
            "k": k,
            "protocol": protocol.strip().lower(),
            "exclude_seen": exclude_seen,
            **_split_flags(
                split, gts_q, gts_boundary, gts_target, gts_valid, gts_valid_share, gts_seed
            ),
            "device": device,
            "output": output,
            "set": set_ or [],
            "reference": reference,
            "test": test.value,
            "correction": correction.value,
            "alpha": alpha,
            "min_rating": min_rating,
            "min_user_interactions": min_user,
            "min_item_interactions": min_item,
            "synthetic": synthetic or [],
            "columns": columns,
            "duplicates": duplicates.value if duplicates else None,
            "tie_order": tie_order.value if tie_order else None,
            "jobs": jobs,
            "threads": threads,
            "executor": executor.value,
            "ray_address": ray_address,
            "cpus_per_cell": cpus_per_cell,
            "gpus_per_cell": gpus_per_cell,
            "max_concurrent": max_concurrent,
            "retries": retries,
            "control": control or [],
            "deterministic": deterministic,
        }
        names = {
            "fmt": "fmt",
            "min_user_interactions": "min_user",
            "min_item_interactions": "min_item",
            "set": "set_",
        }
        cmdline = {name for name in flags if given(names.get(name, name))}
        if tuned is not None:
            cfg = _tuned_config(tuned, flags, cmdline, config)
        else:
            base = load_run_config(config) if config is not None else None
            cfg = merge_cli(base, flags, cmdline)
        if quiet:
            os.environ["SEQBENCH_PROGRESS"] = "0"
        run_experiment(cfg, console=out, log=err, dry_run=dry_run, quiet=quiet)


def _tuned_config(
    tuned: Path, flags: dict[str, Any], cmdline: set[str], config: Path | None
) -> Any:
    """``run --tuned DIR``: the study's data set and best configs, with the given flags over it."""
    from seqrec_bench.config import merge_cli
    from seqrec_bench.errors import ConfigError
    from seqrec_bench.tune import tuned_run_config

    clash = sorted(cmdline & {"dataset", "fmt", "synthetic", "columns", "min_rating",
                              "min_user_interactions", "min_item_interactions", "duplicates",
                              "tie_order"})  # fmt: skip
    if config is not None or clash:
        what = "--config" if config is not None else f"--{clash[0].replace('_', '-')}"
        raise ConfigError(f"--tuned takes its data set from the tuning folder; drop {what}")
    base = tuned_run_config(tuned, _comma_list(flags["models"]) or None)
    return merge_cli(base, flags, cmdline - {"models"})


class Sampler(StrEnum):
    tpe = "tpe"
    random = "random"


@app.command()
def tune(
    ctx: typer.Context,
    models: ModelsOption = "",
    dataset: Annotated[
        str,
        typer.Option("--dataset", "-d", help="Named data set or a file path (one)."),
    ] = "ml-1m",
    trials: Annotated[
        int | None,
        typer.Option("--trials", help="Trials per model (the same for every model)."),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            help="Trial time per model in minutes (the same for every model; the sum of its "
            "trials' wall times; a started trial finishes).",
        ),
    ] = None,
    sampler: Annotated[
        Sampler, typer.Option("--sampler", help="Optuna sampler: tpe (default) or random.")
    ] = Sampler.tpe,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the sampler and of every trial's training.")
    ] = 0,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            help="The validation metric to maximise (a trial's early stopping still picks its "
            "epoch by NDCG@10).",
        ),
    ] = "NDCG@10",
    space: Annotated[
        Path | None,
        typer.Option(
            "--space",
            help="TOML file of [tune.MODEL] tables that narrow or replace the declared spaces.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML experiment file (its data set, models and [tune.MODEL] tables); flags "
            "given on the command line override it.",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Fix a config field MODEL.PARAM=VALUE (taken out of the space; repeatable).",
        ),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune/--no-prune",
            help="Median-prune neural trials on their per-epoch validation curve.",
        ),
    ] = True,
    fmt: FormatOption = None,
    data_dir: DataDirOption = None,
    synthetic: SyntheticOption = None,
    min_rating: Annotated[
        float | None, typer.Option("--min-rating", help="Drop interactions rated below this.")
    ] = None,
    min_user: MinUserOption = None,
    min_item: MinItemOption = None,
    columns: ColumnsOption = None,
    duplicates: DuplicatesOption = None,
    tie_order: TieOrderOption = None,
    k: Annotated[str, typer.Option("--k", help="Cut-offs of the stored metrics.")] = "5,10,20",
    exclude_seen: Annotated[
        bool,
        typer.Option(
            "--exclude-seen/--no-exclude-seen",
            help="Remove the user's input items from the candidates.",
        ),
    ] = True,
    split: SplitOption = "loo",
    gts_q: GtsQOption = None,
    gts_boundary: GtsBoundaryOption = None,
    gts_target: GtsTargetOption = None,
    gts_valid: GtsValidOption = None,
    gts_valid_share: GtsValidShareOption = None,
    gts_seed: GtsSeedOption = None,
    device: DeviceOption = "auto",
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", help="Trials at once, each in a worker process (asked N at a time)."
        ),
    ] = 1,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Torch CPU threads per trial.")
    ] = None,
    executor: Annotated[
        Executor, typer.Option("--executor", help="local or ray (each trial a Ray task).")
    ] = Executor.local,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Ray cluster address (with --executor ray).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Tuning folder (default: results/tune-<data set>-<hash>; rerunning resumes it).",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress lines; the result still prints.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show each model's stored trials and what remains."),
    ] = False,
) -> None:
    """Tune every model with the same budget on validation (Optuna; the test split is never read).

    Example: seqbench tune --models transformer,gru,markov --dataset synthetic --trials 20
    """
    with _errors():
        from seqrec_bench.config import DatasetSpec, RunConfig, merge_cli
        from seqrec_bench.tune import TuneConfig, load_spaces, run_tuning

        flags = {
            "models": models,
            "dataset": dataset,
            "fmt": fmt.value if fmt else None,
            "data_dir": data_dir,
            "seeds": str(seed),
            "k": k,
            "exclude_seen": exclude_seen,
            **_split_flags(
                split, gts_q, gts_boundary, gts_target, gts_valid, gts_valid_share, gts_seed
            ),
            "device": device,
            "output": output,
            "set": set_ or [],
            "synthetic": synthetic or [],
            "min_rating": min_rating,
            "min_user_interactions": min_user,
            "min_item_interactions": min_item,
            "columns": columns,
            "duplicates": duplicates.value if duplicates else None,
            "tie_order": tie_order.value if tie_order else None,
            "jobs": jobs,
            "threads": threads,
            "executor": executor.value,
            "ray_address": ray_address,
        }
        names = {"fmt": "fmt", "set": "set_", "min_user_interactions": "min_user",
                 "min_item_interactions": "min_item", "seeds": "seed"}  # fmt: skip

        def given(name: str) -> bool:
            src = ctx.get_parameter_source(names.get(name, name))
            return src is not None and src.name == "COMMANDLINE"

        spaces: dict[str, dict[str, Any]] = {}
        origin = "[tune]"
        if config is not None:
            from seqrec_bench.config import load_run_config

            base = load_run_config(config)
            run_cfg: RunConfig = merge_cli(base, flags, {n for n in flags if given(n)})
            run_cfg.seeds = [seed]  # the study's seed, whatever the file's seeds
            spaces, origin = load_spaces(config, required=False), str(config)
        else:
            run_cfg = merge_cli(None, flags, set(flags))
        run_cfg.datasets = run_cfg.datasets or [DatasetSpec(source=dataset)]
        if space is not None:
            spaces, origin = {**spaces, **load_spaces(space)}, str(space)
        cfg = TuneConfig(
            run=run_cfg,
            trials=trials,
            budget_minutes=budget,
            sampler=sampler.value,
            seed=seed,
            metric=metric,
            spaces=spaces,
            spaces_origin=origin,
            prune=prune,
        )
        if quiet:
            os.environ["SEQBENCH_PROGRESS"] = "0"
        run_tuning(cfg, console=out, log=err, dry_run=dry_run, quiet=quiet)


@app.command()
def table(
    results_dir: Annotated[Path, typer.Argument(help="A folder written by `seqbench run`.")],
    fmt: Annotated[
        TableFormat, typer.Option("--format", "-f", help="Output format.")
    ] = TableFormat.console,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference", help="Reference model (default: the run's, else best per column)."
        ),
    ] = None,
    test: Annotated[
        TestName | None, typer.Option("--test", help="Paired test over users (default: the run's).")
    ] = None,
    correction: Annotated[
        Correction | None,
        typer.Option("--correction", help="Multiple-comparison correction (default: the run's)."),
    ] = None,
    alpha: Annotated[
        float | None, typer.Option("--alpha", help="Significance level (default: the run's).")
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help="Comma-separated metrics, e.g. HR@10,NDCG@10,MRR@10 (default: the run's).",
        ),
    ] = None,
    variant: Annotated[
        str | None,
        typer.Option(
            "--variant",
            help="Only cells of this config variant (a hash prefix, as `run` and `run --dry-run` print).",
        ),
    ] = None,
    models: Annotated[
        str | None, typer.Option("--models", help="Only these models, in this order.")
    ] = None,
    datasets_: Annotated[
        str | None, typer.Option("--datasets", help="Only these data sets (labels), in this order.")
    ] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Only these seeds (default: every stored seed).")
    ] = None,
    decimals: Annotated[int, typer.Option("--decimals", help="Decimal places.")] = 4,
    improvement: Annotated[
        str | None,
        typer.Option(
            "--improvement",
            help="Add the relative improvement (%) of this model over the best other one.",
        ),
    ] = None,
    ci: Annotated[
        bool,
        typer.Option(
            "--ci/--no-ci",
            help="Show the 95% bootstrap CIs of the paired difference to the reference in the table (always in the CSV/JSON).",
        ),
    ] = False,
    transpose: Annotated[
        bool, typer.Option("--transpose", help="Models as columns, metrics as rows.")
    ] = False,
    efficiency: Annotated[
        bool,
        typer.Option("--efficiency", help="Add training time, parameters and peak memory columns."),
    ] = False,
    repeat_split: Annotated[
        bool,
        typer.Option(
            "--repeat-split",
            help="Report repeat-target and novel-target users apart (cells run with --no-exclude-seen).",
        ),
    ] = False,
    tuning: Annotated[
        bool,
        typer.Option(
            "--tuning",
            help="A `seqbench tune` folder: the best trial per model (trials run, validation "
            "score, config) and the budget (what a tuning folder always shows).",
        ),
    ] = False,
) -> None:
    """Re-render the table of stored results (no training).

    Without --models/--datasets/--seeds/--variant it shows what the folder's last run printed.
    """
    with _errors():
        from seqrec_bench.store import ResultsDir

        if tuning or ResultsDir(results_dir).read_study():
            from seqrec_bench.tune import render_tuning

            if fmt.value in ("latex", "csv"):
                raise typer.BadParameter("--tuning renders console, markdown or json")
            render_tuning(results_dir, out, fmt.value)
            return
        from seqrec_bench.evaluation.metrics import parse_metric
        from seqrec_bench.report.runs import render_folder

        metric_list = [parse_metric(m).label for m in _comma_list(metrics)] or None
        render_folder(
            results_dir,
            console=out,
            log=err,
            fmt=fmt.value,
            reference=reference,
            test=test.value if test else None,
            correction=correction.value if correction else None,
            alpha=alpha,
            metrics=metric_list,
            variant=variant,
            models=_comma_list(models) or None,
            datasets=_comma_list(datasets_) or None,
            seeds=_int_list(seeds, "--seeds") if seeds else None,
            decimals=decimals,
            improvement_of=improvement,
            bootstrap=ci,
            transpose=transpose,
            efficiency=efficiency,
            repeat_split=repeat_split,
        )


@app.command()
def datasets() -> None:
    """List the named data sets, whether they are cached, and where."""
    with _errors():
        from rich.table import Table

        from seqrec_bench.data import dataset_cache_dir, list_datasets

        t = Table(title=f"data sets (cache: {dataset_cache_dir()})")
        for col in ("name", "cached", "path", "preprocessing", "description"):
            t.add_column(col)
        for info in list_datasets():
            opts = info.get("options") or info.get("default_options") or {}
            t.add_row(
                info["name"],
                "yes" if info.get("cached") else "no",
                str(info.get("path") or "-"),
                ", ".join(f"{k}={v}" for k, v in opts.items()) or "-",
                info.get("description", ""),
            )
        out.print(t)


@app.command()
def prepare(
    dataset: Annotated[str, typer.Argument(help="Named data set or file path.")],
    fmt: Annotated[
        DataFormat | None, typer.Option("--format", help="Format of a local file.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Folder (or zip) with already-downloaded data."),
    ] = None,
    min_rating: Annotated[float | None, typer.Option("--min-rating")] = None,
    min_user: Annotated[int | None, typer.Option("--min-user-interactions")] = None,
    min_item: Annotated[int | None, typer.Option("--min-item-interactions")] = None,
    columns: ColumnsOption = None,
    duplicates: DuplicatesOption = None,
    tie_order: TieOrderOption = None,
    synthetic: Annotated[
        list[str] | None,
        typer.Option("--synthetic", help="Synthetic generator option KEY=VALUE (repeatable)."),
    ] = None,
) -> None:
    """Download if needed, preprocess, cache, and print the data set statistics."""
    with _errors():
        from seqrec_bench.data import load_dataset, render_stats

        options = _dataset_options(
            synthetic,
            columns,
            duplicates,
            tie_order,
            min_rating=min_rating,
            min_user_interactions=min_user,
            min_item_interactions=min_item,
        )
        ds = load_dataset(dataset, format=fmt.value if fmt else None, data_dir=data_dir, **options)
        render_stats(ds, out)


@app.command()
def check(
    dataset: Annotated[str, typer.Argument(help="Named data set or file path.")],
    fmt: Annotated[
        DataFormat | None, typer.Option("--format", help="Format of a local file.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Folder (or zip) with already-downloaded data."),
    ] = None,
    columns: ColumnsOption = None,
    duplicates: DuplicatesOption = None,
    tie_order: TieOrderOption = None,
    synthetic: Annotated[
        list[str] | None,
        typer.Option("--synthetic", help="Synthetic generator option KEY=VALUE (repeatable)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the order shuffle.")] = 0,
) -> None:
    """Does the data look sequential? Markov vs pop, and markov on shuffled order, on validation.

    Also the tie shares, the repeat-target share and the leakage report; no neural model is
    trained and no test target is read.
    """
    with _errors():
        from seqrec_bench.check import render_check, sequential_check
        from seqrec_bench.data import load_dataset

        options = _dataset_options(synthetic, columns, duplicates, tie_order)
        ds = load_dataset(dataset, format=fmt.value if fmt else None, data_dir=data_dir, **options)
        render_check(sequential_check(ds, seed=seed), out)


@app.command()
def models(
    name: Annotated[
        str | None, typer.Argument(help="Show this model's full configuration.")
    ] = None,
) -> None:
    """List registered models (built-in and plugins), or one model's configuration."""
    with _errors():
        from seqrec_bench.plugin_commands import models_command

        models_command(name, out)


@app.command("new-model")
def new_model(
    name: Annotated[str, typer.Argument(help="Short lowercase model name, e.g. 'mymodel'.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create the plugin package.")
    ] = Path("."),
) -> None:
    """Write a ready-to-edit plugin package for a new model."""
    with _errors():
        from seqrec_bench.plugin_commands import new_model_command

        new_model_command(name, directory, out)


@app.command()
def plot(
    results_dir: Annotated[Path, typer.Argument(help="A folder written by `seqbench run`.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Where to write the figures (default: RESULTS_DIR/figures)."
        ),
    ] = None,
    max_k: Annotated[
        int, typer.Option("--max-k", help="Largest k of the metric-vs-k curves.")
    ] = 50,
    models: Annotated[
        str | None, typer.Option("--models", help="Only these models (comma-separated).")
    ] = None,
    datasets: Annotated[
        str | None, typer.Option("--datasets", help="Only these data sets (comma-separated).")
    ] = None,
) -> None:
    """Write training curves and HR/NDCG-vs-k figures (PNG and PDF); needs matplotlib."""
    with _errors():
        from seqrec_bench.plots import plot_run

        for path in plot_run(
            results_dir,
            output,
            max_k=max_k,
            models=_comma_list(models) or None,
            datasets=_comma_list(datasets) or None,
        ):
            out.print(str(path))


@app.command()
def verify(
    results_dir: Annotated[Path, typer.Argument(help="A folder written by `seqbench run`.")],
    references: Annotated[
        Path | None,
        typer.Option(
            "--references", help="A TOML file of [[reference]] rows instead of the shipped ones."
        ),
    ] = None,
) -> None:
    """Compare a run with published figures (shipped reference bands); exit 1 if any row fails."""
    with _errors():
        from seqrec_bench.verify import load_references, render_verify, verify_run

        rows = verify_run(results_dir, load_references(references) if references else None)
        if not rows:
            out.print(
                "no result in this run matches a published reference (model, data set, protocol, items)"
            )
            return
        render_verify(rows, out)
        failed = sum(not r.passed for r in rows)
        out.print(f"{len(rows) - failed} of {len(rows)} reference rows pass")
        if failed:
            raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if not sys.stdout.isatty():
        # rich assumes 80 columns off a terminal, which folds --help into an unreadable column
        # and cuts option texts ("already-download…"); a pipe or a log file has no width limit
        os.environ.setdefault("COLUMNS", "120")
    app()


if __name__ == "__main__":
    main()
