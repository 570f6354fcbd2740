"""The driver of ``seqbench run``: plan -> executor -> store -> tables.

The flow is one-directional: :func:`~seqrec_bench.plan.build_plan` loads and splits the data and
lists every cell with its key; the plan is compared with the results folder (complete cells are
skipped, torn ones retrained, stale ones listed); an executor runs the rest and hands each
result back here, where it is written through the store as soon as it arrives; then the tables
are rendered from the stored ranks of exactly the plan's cells, so ``seqbench table`` re-renders
them without training.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seqrec_bench.cell import CellFailure, CellResult, CellTask
from seqrec_bench.config import (
    DatasetSpec,
    ModelSpec,
    RunConfig,
    default_output_dir,
    parse_set_options,
    table_metrics,
)
from seqrec_bench.errors import ResultsError, SeqbenchError
from seqrec_bench.plan import Plan, PlanStatus, build_plan, plan_status
from seqrec_bench.store import ResultsDir, StoredCell, differing_fields

__all__ = [
    "DatasetSpec",
    "ModelSpec",
    "RunConfig",
    "CellsFailedError",
    "run_experiment",
    "default_output_dir",
    "parse_set_options",
    "render_dry_run",
]


class CellsFailedError(SeqbenchError):
    """Some cells of a run raised; the others are stored (the message lists the failed ones)."""

    def __init__(self, message: str, failures: list[CellFailure]) -> None:
        super().__init__(message)
        self.failures = failures


def _command() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


def _output_dir(cfg: RunConfig) -> Path:
    out = Path(cfg.output) if cfg.output else default_output_dir(cfg)
    if out.exists() and not out.is_dir():
        raise ResultsError(f"--output {out} is a file; pass a folder (new or a results folder)")
    return out


def run_experiment(
    cfg: RunConfig,
    console: Any = None,
    log: Any = None,
    *,
    dry_run: bool = False,
    quiet: bool = False,
) -> Path:
    """Run every cell of ``cfg`` that is not complete yet, then write the tables.

    Args:
        cfg: the run settings.
        console: rich console for results (stdout).
        log: rich console for progress and diagnostics (stderr).
        dry_run: print the plan against the folder (complete / to run / stale) and stop.
        quiet: no progress lines (data set summary, configs, cells); notes, warnings and the
            table still print.

    Returns:
        The results folder.

    Raises:
        CellsFailedError: some cells raised (the others are stored; the tables are not
            written, since they would lack rows).
    """
    from rich.console import Console

    console = console or Console()
    log = log or Console(stderr=True)

    def say(text: str) -> None:
        if not quiet:
            log.print(text, highlight=False)

    plan = build_plan(
        cfg, log=say, warn=lambda text: log.print(f"[yellow]warning:[/] {text}", highlight=False)
    )
    if cfg.executor == "ray" and not dry_run:
        _ray_check()
    if cfg.deterministic and not dry_run:
        # read when cuBLAS starts: set before any CUDA work here, and inherited by the workers
        from seqrec_bench.training.device import CUBLAS_WORKSPACE_CONFIG

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
    out = _output_dir(cfg)
    rd = ResultsDir(out)
    for m in cfg.models:
        for dataset in (d.name for d in cfg.datasets):
            say(
                f"  [cyan]{m.label}[/] ({m.model}) on {dataset}: {plan.configs[(dataset, m.label)]}"
            )
    if dry_run:
        render_dry_run(plan, plan_status(plan, rd), out, console)
        return out
    created = not out.exists()
    stored_here = 0
    try:
        with rd.lock(on_wait=lambda text: log.print(f"[yellow]note:[/] {text}", highlight=False)):
            started = datetime.now(UTC).isoformat(timespec="seconds")
            status = plan_status(plan, rd)
            for problem in status.problems:
                log.print(
                    f"[yellow]warning:[/] unreadable cell {problem}; it is treated as incomplete",
                    highlight=False,
                )
            for _, cell in status.complete:
                say(f"    {cell.identity.describe()}: already complete, skipped")
            for line in _beside_notes(plan, status, out):
                log.print(f"[yellow]note:[/] {line}", highlight=False)
            for name, record in plan.datasets.items():
                rd.write_dataset(name, record)
            failures: list[CellFailure] = []

            def on_done(outcome: CellResult | CellFailure) -> None:
                nonlocal stored_here
                if isinstance(outcome, CellFailure):
                    failures.append(outcome)
                    log.print(f"    [red]failed[/] {outcome.describe()}", highlight=False)
                    return
                rd.write_cell(
                    outcome.identity, outcome.record, outcome.ranks, outcome.repeat, outcome.owner
                )
                stored_here += 1
                if not quiet:
                    _log_cell(log, outcome, stored_here, len(status.todo))

            executor = _executor(plan)
            t0 = time.perf_counter()
            # in-process cells draw the trainer's own live display: one at a time on a terminal
            in_process = cfg.executor == "local" and cfg.jobs == 1
            progress = GridProgress(len(status.todo), log, quiet=quiet, live=not in_process)

            def on_start(task: CellTask, where: str) -> None:
                progress.started(task, where)

            def finished(outcome: CellResult | CellFailure) -> None:
                on_done(outcome)
                progress.finished(outcome)

            with progress:
                executor.run(status.todo, plan.data, finished, on_start)
            if status.todo and not quiet:
                log.print(
                    f"  {stored_here} cell(s) trained in {time.perf_counter() - t0:.1f}s "
                    f"({_where(cfg)}, "
                    f"{plan.threads} thread(s) per cell)",
                    highlight=False,
                )
            if failures:
                _raise_failures(failures, len(plan.tasks), out)
            _finish(plan, rd, started, console, log, getattr(executor, "cluster", None))
    except BaseException:
        # nothing half-written: a folder this call created and stored no cell in goes away
        if created and stored_here == 0 and out.exists() and not rd.scan()[0]:
            shutil.rmtree(out, ignore_errors=True)
        raise
    log.print(f"results: {out}")
    return out


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _beside_notes(plan: Plan, status: PlanStatus, out: Path) -> list[str]:
    """One line per row whose folder already holds cells of another config of it.

    Nothing is lost silently: say that the new config's cells go beside the old ones, what
    changed, and how to see the old ones.
    """
    from seqrec_bench.store import differences

    planned = {(t.identity.dataset, t.identity.label): t.identity for t in plan.tasks}
    by_row: dict[tuple[str, str], dict[str, list[StoredCell]]] = {}
    for cell in status.stale:
        by_row.setdefault((cell.dataset, cell.label), {}).setdefault(
            cell.identity.variant, []
        ).append(cell)
    lines = []
    for (dataset, label), variants in by_row.items():
        new = planned[(dataset, label)]
        for variant, cells in variants.items():
            changes = differences(cells[0].identity, new)
            what = ", ".join(f"{f} {_short(a)} → {_short(b)}" for f, a, b in changes) or "its key"
            lines.append(
                f"{label} on {dataset}: new config ({what}), stored beside the {len(cells)} "
                f"cell(s) of the old one (variant {variant[:8]}); this run's table shows the new "
                f"one, `seqbench table {out} --variant {variant[:8]}` shows the old"
            )
    return lines


class GridProgress:
    """Cells queued / running / done / failed, the device of each running cell, and an estimate.

    On a terminal it is a live rich panel; otherwise one plain line after each finished cell (a
    log under nohup or Slurm shows how far the grid is and how long it will take).
    """

    def __init__(self, total: int, log: Any, quiet: bool = False, live: bool = True) -> None:
        self.total, self.log, self.quiet, self.allow_live = total, log, quiet, live
        self.running: dict[str, tuple[str, float]] = {}
        self.done = self.failed = 0
        self.durations: list[float] = []
        self.start = time.perf_counter()
        self.live: Any = None

    def __enter__(self) -> GridProgress:
        from seqrec_bench.training.trainer import progress_mode

        if self.allow_live and not self.quiet and self.total > 1 and progress_mode() == "live":
            from rich.live import Live

            self.live = Live(self._panel(), console=self.log, refresh_per_second=2, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def started(self, task: CellTask, where: str) -> None:
        self.running[task.identity.run_key] = (
            f"{task.identity.describe()} on {where}",
            time.perf_counter(),
        )
        self._refresh()

    def finished(self, outcome: CellResult | CellFailure) -> None:
        _, t0 = self.running.pop(outcome.identity.run_key, ("", self.start))
        self.durations.append(time.perf_counter() - t0)
        if isinstance(outcome, CellFailure):
            self.failed += 1
        else:
            self.done += 1
        if self.live is None and not self.quiet and self.total > 1:
            self.log.print(f"  grid: {self.summary()}", highlight=False)
        self._refresh()

    def summary(self) -> str:
        finished = self.done + self.failed
        queued = max(0, self.total - finished - len(self.running))
        text = f"{finished}/{self.total} done ({self.failed} failed), {len(self.running)} running, {queued} queued"
        if finished >= 2 and finished < self.total:
            # remaining cells at the observed pace: the wall time per finished cell so far
            pace = (time.perf_counter() - self.start) / finished
            text += f"; about {pace * (self.total - finished) / 60:.1f} min left"
        return text

    def _panel(self) -> Any:
        from rich.table import Table

        table = Table(
            title=f"grid: {self.summary()}", title_justify="left", show_header=False, box=None
        )
        for name, t0 in self.running.values():
            table.add_row(f"running {name}", f"{time.perf_counter() - t0:.0f}s")
        return table

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._panel())


def _executor(plan: Plan) -> Any:
    cfg = plan.cfg
    if cfg.executor == "ray":
        from seqrec_bench.executor_ray import RayExecutor

        gpus = cfg.gpus_per_cell
        if gpus is None:
            gpus = 1.0 if plan.device.startswith("cuda") else 0.0
        return RayExecutor(
            cfg.ray_address,
            cpus_per_cell=cfg.cpus_per_cell,
            gpus_per_cell=gpus,
            max_concurrent=cfg.max_concurrent,
            retries=cfg.retries,
        )
    from seqrec_bench.executor import make_executor

    return make_executor(cfg.jobs, plan.threads, plan.device)


def _log_cell(log: Any, result: CellResult, done: int, total: int) -> None:
    rec = result.record
    best = f", best epoch {rec['best_epoch']}" if rec.get("best_epoch") is not None else ""
    selection = rec.get("selection")
    if selection:
        grid = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in selection["grid"])
        best += f"; selected {selection['field']} {selection['value']:g} of [{grid}] on validation {selection['metric']}"
    if rec.get("stop_reason") == "time_budget":
        best += " (stopped by the time budget)"
    log.print(
        f"    [{done}/{total}] {result.identity.describe()}: fit {rec['times']['fit_seconds']:.1f}s"
        f"{best}; valid NDCG@10 {rec['validation']['NDCG@10']:.4f}, "
        f"test NDCG@10 {rec['test']['NDCG@10']:.4f}",
        highlight=False,
    )


def _raise_failures(failures: list[CellFailure], total: int, out: Path) -> None:
    listed = "; ".join(f.describe() for f in failures)
    raise CellsFailedError(
        f"{len(failures)} of {total} cells failed ({listed}); the other cells are stored in "
        f"{out}: fix the cause and rerun the same command to run only what is missing",
        failures,
    )


def _row_labels(cfg: RunConfig) -> list[str]:
    """The table's rows: every model, then each one under each control."""
    from seqrec_bench.plan import control_label

    labels = [m.label for m in cfg.models]
    return labels + [control_label(label, c) for c in cfg.controls for label in labels]


def _where(cfg: RunConfig) -> str:
    if cfg.executor == "ray":
        return f"Ray tasks at {cfg.ray_address or 'a local cluster'}"
    return "in-process" if cfg.jobs == 1 else f"{cfg.jobs} worker processes"


def _ray_check() -> None:
    """Fail in one line before any cell when --executor ray cannot work (Ray missing)."""
    from seqrec_bench.executor_ray import _ray

    _ray()


def _finish(
    plan: Plan,
    rd: ResultsDir,
    started: str,
    console: Any,
    log: Any,
    cluster: dict[str, Any] | None = None,
) -> None:
    """Manifest and tables of exactly the plan's cells (read back through the store)."""
    from seqrec_bench import __version__
    from seqrec_bench.environment import environment_info
    from seqrec_bench.report.runs import build_report, print_report, report_files
    from seqrec_bench.store import config_hash

    cfg = plan.cfg
    cells: list[StoredCell] = []
    for task in plan.tasks:
        found = rd.find(task.identity)
        if not isinstance(found, StoredCell):
            raise ResultsError(f"cell {task.identity.describe()} did not read back from {rd.root}")
        cells.append(found)
    previous = rd.read_manifest()
    # where the folder is does not change what it holds: a moved or copied folder is the same run
    settings_hash = config_hash({k: v for k, v in cfg.to_dict().items() if k != "output"})
    if previous.get("settings_hash") not in (None, settings_hash):
        # A folder's tables describe one command; a different command replaces them (every
        # cell stays, addressed by its config). Say so, or a paper table goes missing.
        log.print(
            f"[yellow]note:[/] the tables and manifest of {rd.root} came from "
            f"`{previous.get('command', 'another command')}`; they now show this run's cells "
            "(every cell is kept): run that command again to re-render them",
            highlight=False,
        )
    manifest = {
        "command": _command(),
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seqrec_bench": __version__,
        "settings": cfg.to_dict(),
        "settings_hash": settings_hash,
        "executor": {
            "name": cfg.executor,
            "jobs": cfg.jobs,
            "threads_per_cell": plan.threads,
            **({"cluster": cluster} if cluster else {}),
        },
        "cell_placement": {
            c.path.relative_to(rd.root).as_posix(): {
                "node": (c.record.get("executor") or c.record.get("environment") or {}).get("node"),
                "device": c.record.get("device"),
            }
            for c in cells
        },
        "cells": [c.path.relative_to(rd.root).as_posix() for c in cells],
        # what this run printed, so `seqbench table DIR` re-renders exactly that
        "table": {
            "cells": [c.path.relative_to(rd.root).as_posix() for c in cells],
            "models": _row_labels(cfg),
            "datasets": [d.name for d in cfg.datasets],
            "reference": cfg.reference,
            "test": cfg.test,
            "correction": cfg.correction,
            "alpha": cfg.alpha,
            "ks": list(cfg.ks),
        },
        "environment": environment_info(plan.device, plan.threads),
        "determinism": {
            "deterministic": cfg.deterministic,
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        },
    }
    rd.write_manifest(manifest)
    labels = _row_labels(cfg)
    report = build_report(
        cells,
        rd.read_datasets(),
        manifest,
        metrics=table_metrics(cfg.ks),
        models=labels,
        datasets=[d.name for d in cfg.datasets],
        reference=cfg.reference,
        test=cfg.test,
        correction=cfg.correction,
        alpha=cfg.alpha,
    )
    rd.write_tables(report_files(report))
    print_report(report, console)


def render_dry_run(plan: Plan, status: PlanStatus, out: Path, console: Any) -> None:
    """Print what a run would do: each cell's state, then stale and unreadable cells."""
    from rich.table import Table

    state: dict[str, str] = {}
    for task, _ in status.complete:
        state[task.identity.run_key] = "[green]complete[/]"
    for task, problem in status.torn:
        state[task.identity.run_key] = f"[yellow]retrain[/] ({problem.reason})"
    table = Table(title=f"plan for {out}", title_justify="left")
    for col in ("data set", "model", "seed", "variant", "state"):
        table.add_column(col)
    for task in plan.tasks:
        ident = task.identity
        table.add_row(
            ident.dataset,
            ident.label,
            str(ident.seed),
            ident.variant[:8],
            state.get(ident.run_key, "to run"),
        )
    console.print(table)
    console.print(
        f"{len(plan.tasks)} cells: {len(status.complete)} complete, {len(status.todo)} to run "
        f"({len(status.torn)} of them torn), on {plan.device} with {plan.cfg.jobs} job(s) x "
        f"{plan.threads} thread(s)",
        highlight=False,
    )
    planned = {(t.identity.dataset, t.identity.label): t.identity for t in plan.tasks}
    for cell in status.stale:
        fields = differing_fields(planned[(cell.dataset, cell.label)], cell.identity)
        console.print(
            f"stale: {cell.path} ({cell.identity.describe()}, variant "
            f"{cell.identity.variant[:8]}: differs in {', '.join(fields) or 'its key'}); "
            "kept, never averaged with this plan's cells",
            highlight=False,
        )
    for problem in status.problems:
        console.print(f"unreadable: {problem}", highlight=False)
