"""Running an experiment: datasets x models x seeds under one protocol, resumable.

The flow is one-directional: load + preprocess -> leave-one-out split -> for each (model, seed):
fit on train with a validation evaluator -> score every item on the test inputs -> per-user ranks
-> stored; then metrics, significance and tables are computed from the stored ranks only, so
``seqbench table`` re-renders everything without training.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import resource
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from seqrec_bench.results import (
    CellKey,
    ResultsDir,
    atomic_write_json,
    atomic_write_text,
    config_hash,
)

__all__ = [
    "DatasetSpec",
    "ModelSpec",
    "RunConfig",
    "run_experiment",
    "render_tables",
    "resolve_device",
    "default_output_dir",
    "parse_set_options",
    "table_metrics",
]

TIE_POLICY = "pessimistic (ties count against the model)"


@dataclass
class DatasetSpec:
    """A data set of a run: a named data set or a file, with its preprocessing options.

    Attributes:
        source: ``"ml-1m"``, ``"synthetic"``, or a path.
        label: the name shown in tables (defaults to the source's name).
        format: ``interactions``/``sequences`` for files (``None`` = auto-detect).
        data_dir: where already-downloaded files are.
        options: preprocessing options passed to :func:`seqrec_bench.data.load_dataset`
            (``min_rating``, ``min_user_interactions``, ``min_item_interactions``, ``columns``,
            ``synthetic``).
    """

    source: str
    label: str | None = None
    format: str | None = None
    data_dir: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        return (
            Path(self.source).name
            if os.sep in self.source or Path(self.source).suffix
            else self.source
        )


@dataclass
class ModelSpec:
    """A model row of a run: a registered model under a label, with config overrides.

    ``ModelSpec("transformer-bce", "transformer", {"loss": "bce"})`` runs the transformer with
    the BCE loss and shows it as ``transformer-bce``.
    """

    label: str
    model: str
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunConfig:
    """Everything that defines a run (the CLI and config files both build one)."""

    datasets: list[DatasetSpec]
    models: list[ModelSpec]
    seeds: list[int] = field(default_factory=lambda: [0])
    ks: list[int] = field(default_factory=lambda: [5, 10, 20])
    protocol: str = "full"
    exclude_seen: bool = True
    device: str = "auto"
    output: Path | None = None
    reference: str | None = None
    test: str = "ttest"
    correction: str = "holm"
    alpha: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["output"] = str(self.output) if self.output else None
        return d


def table_metrics(ks: list[int]) -> list[str]:
    """The metric columns of a run's table: HR@k then NDCG@k for every k."""
    from seqrec_bench.evaluation.metrics import metric_labels

    return metric_labels(sorted(set(ks)), ("HR", "NDCG"))


def stored_metrics(ks: list[int]) -> list[str]:
    """Every metric stored per cell (the table's plus MRR)."""
    from seqrec_bench.evaluation.metrics import metric_labels

    ks = sorted(set(ks))
    labels = metric_labels(ks, ("HR", "NDCG", "MRR")) + ["MRR"]
    if "NDCG@10" not in labels:  # early stopping always watches NDCG@10
        labels.append("NDCG@10")
    return labels


def parse_set_options(values: list[str]) -> dict[str, dict[str, str]]:
    """``["transformer.lr=1e-3", "gru.hidden=128"]`` -> ``{"transformer": {"lr": "1e-3"}, ...}``.

    Raises:
        ValueError: for entries not shaped ``MODEL.PARAM=VALUE``.
    """
    out: dict[str, dict[str, str]] = {}
    for item in values:
        key, eq, value = item.partition("=")
        model, dot, param = key.strip().partition(".")
        if not eq or not dot or not model or not param:
            raise ValueError(
                f"--set expects MODEL.PARAM=VALUE (e.g. transformer.lr=0.001), got {item!r}"
            )
        out.setdefault(model.lower(), {})[param.strip()] = value.strip()
    return out


def resolve_device(spec: str) -> str:
    """``auto`` -> ``cuda`` if available, else ``mps``, else ``cpu``; others are checked."""
    import torch

    spec = (spec or "auto").lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            "--device cuda was requested but CUDA is not available; use --device cpu or auto"
        )
    if spec not in ("cpu", "mps") and not spec.startswith("cuda"):
        raise ValueError(f"unknown device {spec!r}; valid: auto, cpu, cuda, cuda:N, mps")
    return spec


def default_output_dir(cfg: RunConfig, base: Path = Path("results")) -> Path:
    """A folder named after what defines the results, so rerunning a command resumes it.

    Adding a model or a seed to the same data and protocol reuses the folder (completed cells
    are skipped); a different data set or protocol gets a new one.
    """
    names = "+".join(d.name for d in cfg.datasets)
    key = config_hash(
        {
            "datasets": [dataclasses.asdict(d) for d in cfg.datasets],
            "protocol": cfg.protocol,
            "exclude_seen": cfg.exclude_seen,
        }
    )[:8]
    safe = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in names)
    return base / f"run-{safe}-{cfg.protocol}-{key}"


# -- environment ---------------------------------------------------------------------------------
def _process_peak_rss_mb() -> float:
    """The process's high-water mark (cannot be reset: it covers every earlier cell too)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / (1024.0 * 1024.0)


def _current_rss_mb() -> float | None:
    """Resident memory now, from ``/proc/self/statm`` (Linux); ``None`` elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as f:
            resident_pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)


class PeakRSS:
    """Peak resident memory of the process *during* a ``with`` block, in MB.

    ``ru_maxrss`` is the high-water mark of the whole process and cannot be reset, so in a grid
    it would charge every cell with the largest earlier one (the first transformer's peak showed
    up again under pop). This samples ``/proc/self/statm`` from a daemon thread every
    ``interval`` seconds instead; a spike shorter than the interval can be missed. Where
    ``/proc`` is absent (macOS, Windows) it falls back to the process high-water mark.

    Example:
        >>> with PeakRSS() as peak:
        ...     block = bytearray(50 * 2**20)
        >>> peak.mb > 0
        True
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        now = _current_rss_mb()
        if now is not None and now > self.mb:
            self.mb = now

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakRSS:
        if _current_rss_mb() is None:
            return self
        self._sample()
        self._thread = threading.Thread(target=self._run, name="seqbench-peak-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            self.mb = _process_peak_rss_mb()
            return
        self._stop.set()
        self._thread.join()
        self._sample()


def _git_info() -> dict[str, Any]:
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def environment_info(device: str) -> dict[str, Any]:
    """Library versions, device and determinism flags (PROTOCOL §6; the run manifest)."""
    import importlib.metadata as md

    import numpy
    import pandas
    import scipy
    import torch

    import seqrec_bench

    info: dict[str, Any] = {
        "seqrec_bench": seqrec_bench.__version__,
        "git": _git_info(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scipy": scipy.__version__,
        "device": device,
        "device_name": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }
    if device.startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
        info["cudnn_deterministic"] = torch.backends.cudnn.deterministic
        info["cudnn_benchmark"] = torch.backends.cudnn.benchmark
    plugins = {}
    for ep in md.entry_points(group="seqrec_bench.models"):
        dist = getattr(ep, "dist", None)
        if dist is not None:
            plugins[ep.name] = f"{dist.metadata['Name']}=={dist.version}"
    info["plugins"] = plugins
    return info


# -- the run ------------------------------------------------------------------------------------
def _resolve_model(spec: ModelSpec, stats: dict[str, Any]) -> tuple[type, Any]:
    from seqrec_bench.models.base import config_from_dict, config_to_dict, parse_overrides
    from seqrec_bench.registry import get_model_class

    cls = get_model_class(spec.model)
    config = cls.default_config(stats)
    str_over = {k: v for k, v in spec.overrides.items() if isinstance(v, str)}
    other = {k: v for k, v in spec.overrides.items() if not isinstance(v, str)}
    if other:
        config = config_from_dict(cls.config_cls, {**config_to_dict(config), **other})
    if str_over:
        config = parse_overrides(config, str_over)
    return cls, config


def _split_negatives(dataset, split, cfg: RunConfig, seed: int):
    """Sampled-protocol negatives for validation and test (shared by every model)."""
    from seqrec_bench.evaluation.sampling import parse_protocol, sample_negatives

    kind, n = parse_protocol(cfg.protocol)
    if kind == "full":
        return None, None
    everything = dataset.sequences  # never draw an item the user interacted with
    pop = split.train.item_counts()
    common = dict(kind=kind, popularity=pop, seed=seed, dataset_key=dataset.key)
    return (
        sample_negatives(everything, n, salt="valid", **common),
        sample_negatives(everything, n, salt="test", **common),
    )


def run_experiment(cfg: RunConfig, console=None, log=None) -> Path:
    """Run every (dataset, model, seed) cell that is not complete yet, then write the tables.

    Args:
        cfg: the run settings.
        console: rich console for results (stdout).
        log: rich console for progress and diagnostics (stderr).

    Returns:
        The results folder.
    """
    from rich.console import Console

    from seqrec_bench.data import LeaveOneOutSplit, load_dataset
    from seqrec_bench.evaluation import Evaluator, parse_protocol
    from seqrec_bench.models.base import config_to_dict

    console = console or Console()
    log = log or Console(stderr=True)
    parse_protocol(cfg.protocol)  # fail fast on a bad protocol name
    if not cfg.models:
        raise ValueError("no models given; e.g. --models transformer,gru,markov")
    if not cfg.seeds:
        raise ValueError("no seeds given; e.g. --seeds 0,1,2")
    labels = [m.label for m in cfg.models]
    if len(set(labels)) != len(labels):
        raise ValueError(f"model labels must be unique, got {', '.join(labels)}")
    for ds_name in [d.name for d in cfg.datasets]:
        if [d.name for d in cfg.datasets].count(ds_name) > 1:
            raise ValueError(
                f"data set label {ds_name!r} is used twice; give each a distinct label"
            )
    device = resolve_device(cfg.device)
    from seqrec_bench.registry import get_model_class

    for m in cfg.models:  # unknown or broken models fail before any data is loaded
        get_model_class(m.model)

    out = Path(cfg.output) if cfg.output else default_output_dir(cfg)
    created = not out.exists()
    rd = ResultsDir(out)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    metrics_all = stored_metrics(cfg.ks)
    completed_here = 0
    try:
        for ds_spec in cfg.datasets:
            t0 = time.perf_counter()
            dataset = load_dataset(
                ds_spec.source, format=ds_spec.format, data_dir=ds_spec.data_dir, **ds_spec.options
            )
            split = LeaveOneOutSplit.from_sequences(dataset.sequences)
            data_seconds = time.perf_counter() - t0
            n_candidates = dataset.sequences.n_items
            kind, n_neg = parse_protocol(cfg.protocol)
            if kind != "full":
                n_candidates = n_neg + 1
            too_big = [k for k in cfg.ks if k > n_candidates]
            if too_big:
                raise ValueError(
                    f"k={max(too_big)} is larger than the {n_candidates} candidates per user of "
                    f"{ds_spec.name}; use smaller --k values"
                )
            log.print(
                f"[bold]{ds_spec.name}[/]: {dataset.stats.get('users', split.n_users):,} users, "
                f"{dataset.stats.get('items', split.n_items):,} items, "
                f"{dataset.stats.get('interactions', len(dataset.sequences.items)):,} interactions "
                f"(loaded in {data_seconds:.2f}s; checksum {dataset.checksum[:12]})"
            )
            rd.write_dataset(
                ds_spec.name,
                {
                    "name": ds_spec.name,
                    "source": ds_spec.source,
                    "checksum": dataset.checksum,
                    "key": dataset.key,
                    "options": dataset.options,
                    "stats": dataset.stats,
                    "split": {
                        "users": split.n_users,
                        "train_interactions": int(len(split.train.items)),
                        "validation_targets": split.n_users,
                        "test_targets": split.n_users,
                    },
                    "load_seconds": data_seconds,
                },
            )
            for spec in cfg.models:
                cls, config = _resolve_model(spec, dataset.stats)
                resolved = config_to_dict(config)
                log.print(
                    f"  [cyan]{spec.label}[/] ({cls.name}) config: {resolved}", highlight=False
                )
                for seed in cfg.seeds:
                    key = CellKey(ds_spec.name, spec.label, seed)
                    run_hash = config_hash(
                        {
                            "dataset": dataset.key,
                            "model": cls.name,
                            "config": resolved,
                            "seed": seed,
                            "protocol": cfg.protocol,
                            "exclude_seen": cfg.exclude_seen,
                        }
                    )
                    if rd.is_complete(key, run_hash):
                        log.print(f"    seed {seed}: already complete, skipped")
                        continue
                    valid_negs, test_negs = _split_negatives(dataset, split, cfg, seed)
                    validator = Evaluator(
                        split.valid_inputs,
                        split.valid_targets,
                        metrics=metrics_all,
                        exclude_seen=cfg.exclude_seen,
                        negatives=valid_negs,
                    )
                    model = cls(config)
                    _reset_gpu_peak(device)
                    with PeakRSS() as peak_rss:
                        t_fit = time.perf_counter()
                        model.fit(split.train, seed=seed, device=device, validator=validator)
                        fit_seconds = time.perf_counter() - t_fit
                        valid_result = validator.evaluate(model)
                        tester = Evaluator(
                            split.test_inputs,
                            split.test_targets(),
                            metrics=metrics_all,
                            exclude_seen=cfg.exclude_seen,
                            negatives=test_negs,
                        )
                        test_result = tester.evaluate(model)
                    record = {
                        "dataset": ds_spec.name,
                        "model": spec.label,
                        "model_name": cls.name,
                        "seed": seed,
                        "run_hash": run_hash,
                        "config": resolved,
                        "protocol": cfg.protocol,
                        "exclude_seen": cfg.exclude_seen,
                        "device": device,
                        "users": int(len(test_result.ranks)),
                        "validation": valid_result.metrics,
                        "test": test_result.metrics,
                        "history": model.history,
                        "best_epoch": model.best_epoch,
                        "stop_reason": model.stop_reason,
                        "times": {
                            "fit_seconds": fit_seconds,
                            "best_epoch_seconds": _time_to_best(model),
                            "test_eval_seconds": test_result.seconds,
                            "data_seconds": data_seconds,
                        },
                        "memory": {"peak_rss_mb": peak_rss.mb, "peak_gpu_mb": _gpu_peak(device)},
                        "parameters": model.n_parameters(),
                        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                    }
                    rd.write_cell(key, record, test_result.ranks)
                    completed_here += 1
                    best = (
                        f", best epoch {model.best_epoch}" if model.best_epoch is not None else ""
                    )
                    if model.stop_reason == "time_budget":
                        best += " (stopped by the time budget)"
                    log.print(
                        f"    seed {seed}: fit {fit_seconds:.1f}s{best}; "
                        f"valid NDCG@10 {valid_result.metrics['NDCG@10']:.4f}, "
                        f"test NDCG@10 {test_result.metrics['NDCG@10']:.4f}",
                        highlight=False,
                    )
                    del model
    except BaseException:
        # nothing half-written: a folder this call created and filled with no cell goes away
        if created and completed_here == 0 and out.exists() and not any(rd.iter_cells()):
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        raise
    previous = rd.read_manifest()
    settings_hash = config_hash(cfg.to_dict())
    if previous.get("settings_hash") not in (None, settings_hash):
        # The folder's tables and manifest describe one command; a different command replaces
        # them (its cells, and everyone else's, stay). Say so, or a paper table goes missing.
        log.print(
            f"[yellow]note:[/] the tables and manifest of {out} came from "
            f"`{previous.get('command', 'another command')}`; they now show this run only "
            "(every cell is kept): run that command again to re-render them",
            highlight=False,
        )
    manifest = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": cfg.to_dict(),
        "settings_hash": settings_hash,
        "environment": environment_info(device),
    }
    rd.write_manifest(manifest)
    render_tables(
        out,
        console=console,
        reference=cfg.reference,
        test=cfg.test,
        correction=cfg.correction,
        alpha=cfg.alpha,
        write=True,
        metrics=table_metrics(cfg.ks),
        models=labels,
        datasets=[d.name for d in cfg.datasets],
    )
    log.print(f"results: {out}")
    return out


def _time_to_best(model) -> float | None:
    if model.best_epoch is None or not model.history:
        return None
    total = 0.0
    for row in model.history:
        total += float(row.get("seconds", 0.0))
        if row.get("epoch") == model.best_epoch:
            return total
    return None


def _reset_gpu_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(torch.device(device))


def _gpu_peak(device: str) -> float | None:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated(torch.device(device)) / 2**20
    return None


# -- tables from stored results -------------------------------------------------------------------
def load_rank_table(
    rd: ResultsDir,
    models: list[str] | None = None,
    datasets: list[str] | None = None,
    seeds: list[int] | None = None,
) -> tuple[dict[str, dict[str, list[np.ndarray]]], dict[str, dict[str, list[dict]]]]:
    """Per dataset, per model: the per-seed rank arrays (and the cell records), from disk."""
    ranks: dict[str, dict[str, list[np.ndarray]]] = {}
    records: dict[str, dict[str, list[dict]]] = {}
    cells = sorted(rd.iter_cells(), key=lambda kc: (kc[0].dataset, kc[0].model, kc[0].seed))
    for key, rec in cells:
        if datasets and key.dataset not in datasets:
            continue
        if models and key.model not in models:
            continue
        if seeds is not None and key.seed not in seeds:
            continue
        ranks.setdefault(key.dataset, {}).setdefault(key.model, []).append(rd.read_ranks(key))
        records.setdefault(key.dataset, {}).setdefault(key.model, []).append(rec)
    order_d = datasets or sorted(ranks)
    ranks = {d: ranks[d] for d in order_d if d in ranks}
    if models:
        ranks = {d: {m: r[m] for m in models if m in r} for d, r in ranks.items()}
    return ranks, records


def protocol_card(rd: ResultsDir, records: dict[str, dict[str, list[dict]]]) -> dict[str, str]:
    """The protocol card lines under a table (what exactly produced the numbers)."""
    datasets = rd.read_datasets()
    any_rec = next(r for per in records.values() for recs in per.values() for r in recs)
    lines: dict[str, str] = {}
    for name in records:
        info = datasets.get(name, {})
        users = next(iter(records[name].values()))[0]["users"]
        lines[f"dataset {name}"] = (
            f"{info.get('source', name)} (sha256 {str(info.get('checksum', '?'))[:12]}), "
            f"{users:,} users evaluated, {info.get('stats', {}).get('items', '?')} items"
        )
    protocol = any_rec["protocol"]
    lines["split"] = (
        "leave-one-out (last item = test, second-to-last = validation; selection on validation)"
    )
    lines["candidates"] = "all items (full ranking)" if protocol == "full" else protocol
    lines["seen items"] = "excluded (target kept)" if any_rec["exclude_seen"] else "kept"
    lines["ties"] = TIE_POLICY
    seeds = sorted({r["seed"] for per in records.values() for recs in per.values() for r in recs})
    lines["seeds"] = ", ".join(map(str, seeds))
    return lines


def efficiency_columns(
    records: dict[str, dict[str, list[dict]]],
) -> dict[str, dict[str, dict[str, float]]]:
    """Per dataset and model, mean over seeds of the recorded cost of a run."""
    cols: dict[str, dict[str, dict[str, float]]] = {}
    for ds, per_model in records.items():
        for model, recs in per_model.items():

            def mean(values):
                vals = [float(v) for v in values if v is not None]
                return float(np.mean(vals)) if vals else float("nan")

            row = {
                "train s": mean(r["times"]["fit_seconds"] for r in recs),
                "to best s": mean(r["times"].get("best_epoch_seconds") for r in recs),
                "eval s": mean(r["times"]["test_eval_seconds"] for r in recs),
                "params": mean(r.get("parameters") for r in recs),
                "peak RSS MB": mean(r["memory"]["peak_rss_mb"] for r in recs),
            }
            gpu = [
                r["memory"].get("peak_gpu_mb")
                for r in recs
                if r["memory"].get("peak_gpu_mb") is not None
            ]
            if gpu:
                row["peak GPU MB"] = float(np.mean(gpu))
            cols.setdefault(ds, {})[model] = row
    return cols


def render_tables(
    root: str | Path,
    *,
    console=None,
    fmt: str = "console",
    reference: str | None = None,
    test: str = "ttest",
    correction: str = "holm",
    alpha: float = 0.05,
    write: bool = False,
    metrics: list[str] | None = None,
    models: list[str] | None = None,
    datasets: list[str] | None = None,
    seeds: list[int] | None = None,
    **report_options: Any,
):
    """Build the report from stored ranks; print it in ``fmt``; optionally write every format.

    Returns:
        The :class:`seqrec_bench.report.Report`.
    """
    from seqrec_bench.report import Report

    rd = ResultsDir(root)
    rd.check_exists()
    ranks, records = load_rank_table(rd, models=models, datasets=datasets, seeds=seeds)
    if not ranks:
        from seqrec_bench.results import ResultsError

        raise ResultsError(f"{root} holds no results for the requested models/data sets")
    if metrics is None:
        settings = rd.read_manifest().get("settings", {})
        metrics = table_metrics(settings.get("ks", [5, 10, 20]))
    if report_options.pop("efficiency", False):
        report_options["extra_columns"] = efficiency_columns(records)
    card = protocol_card(rd, records)
    manifest = rd.read_manifest()
    env = manifest.get("environment", {})
    git = env.get("git") or {}
    provenance = (
        f"seqrec_bench {env.get('seqrec_bench', '?')}"
        + (
            f" @ {git['commit'][:10]}{'+dirty' if git.get('dirty') else ''}"
            if git.get("commit")
            else ""
        )
        + f", torch {env.get('torch', '?')}, device {env.get('device', '?')}"
        + (f", run {manifest.get('finished')}" if manifest.get("finished") else "")
    )
    report = Report.from_ranks(
        ranks,
        metrics=metrics,
        reference=reference,
        test=test,
        correction=correction,
        alpha=alpha,
        card=card,
        provenance=provenance,
        **report_options,
    )
    if write:
        root = Path(root)
        atomic_write_json(root / "summary.json", report.summary())
        atomic_write_text(root / "table.md", report.to_markdown())
        atomic_write_text(root / "table.tex", report.to_latex())
        atomic_write_text(root / "table.csv", report.to_csv())
        atomic_write_text(root / "table.json", report.to_json())
    if console is not None:
        if fmt == "console":
            report.print(console)
        else:
            text = {
                "markdown": report.to_markdown,
                "latex": report.to_latex,
                "csv": report.to_csv,
                "json": report.to_json,
            }[fmt]()
            console.print(text, markup=False, highlight=False, soft_wrap=True, end="")
    return report
