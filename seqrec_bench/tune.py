"""``seqbench tune``: the same search budget for every model, chosen on validation only.

Published comparisons often tune their own model and run the baselines at their defaults; a
well-tuned baseline then matches the new model (Rendle et al. 2019; Hidasi & Czapp, RecSys
2023). A study here gives every model the **same budget** (the same number of trials, or the
same trial time) over its declared search space (:mod:`seqrec_bench.models.space`), proposed by
Optuna (TPE or random, seeded), and picks each model's best configuration by a **validation**
metric (NDCG@10 by default). The paper table of ``seqbench run --tuned DIR`` states the budget,
the sampler, the space and the best validation score of every model.

How a study maps onto the harness:

* **A trial is a cell.** Its identity is a run cell's (data set key, protocol, model, resolved
  config, ...) plus a ``trial`` field (``{"study": key, "number": n, "params": ..., "metric":
  ...}``), so trial cells never mix with run cells and an interrupted study resumes from its
  stored trials; ``--dry-run`` shows what remains. The store writes them like any cell
  (``ranks.npz`` holds the *validation* ranks of a trial).
* **Nothing from the test split is read.** A trial fits and validates only
  (:func:`run_trial`); the driver hands the workers a split whose test targets are withheld
  (an array of the padding id 0, which no evaluator accepts), and no code path of a study calls
  ``split.test_targets()``.
* **Samplers.** Optuna's ``TPESampler`` with its defaults (its first 10 trials are random
  draws, then TPE) or ``RandomSampler``; we write no search algorithm.
* **Reproducible for a seed.** Trials are proposed by an ask/tell loop in the driver. Before
  each ask the driver rebuilds an in-memory Optuna study from the stored trials and seeds the
  sampler from (study seed, model label, trial number); the proposal of trial ``n`` therefore
  depends only on the seed and the results of the trials before it, and a resumed study
  proposes exactly what an uninterrupted one would.
* **Parallel trials** (``--jobs N``, ``--executor ray``): trials are asked ``N`` at a time
  (trials ``kN .. kN+N-1`` all see the trials before ``kN``), so a study depends on ``N`` as
  well as on the seed; ``N`` is part of the study's key.
* **Median pruning** of the neural models (any config with ``max_epochs``): Optuna's
  ``MedianPruner`` rule, applied inside the worker: once :data:`PRUNE_STARTUP_TRIALS` trials
  have completed, a trial whose best validation value up to epoch ``t >= PRUNE_WARMUP_EPOCHS``
  is below the median of the completed trials' values at epoch ``t`` stops there. The medians
  come from the stored validation curves of the trials the sampler saw (the driver computes
  them and ships them with the task), so pruning is as reproducible as the proposals.
* **Budgets.** ``--trials N``: every model gets ``N`` trials. ``--budget MINUTES``: every model
  gets that much *trial time* (the sum of its trials' wall times, so it means the same after a
  resume and under ``--jobs``); a trial that started before the budget ran out finishes, and the
  table states the trials each model actually ran. Both together: whichever ends first. A
  model with nothing to tune (``pop``) runs once, at its defaults, and the table says so.

Optuna is an optional extra (``pip install seqrec-bench[tune]``); without it the command says
so in one line. This module imports it only where a study asks for trials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from seqrec_bench.cell import CellFailure, CellResult, CellTask, PreparedData
from seqrec_bench.config import (
    MONITOR_METRIC,
    DatasetSpec,
    ModelSpec,
    RunConfig,
    SplitSpec,
    stored_metrics,
)
from seqrec_bench.errors import ConfigError, ResultsError, SeqbenchError
from seqrec_bench.models.space import (
    Param,
    describe_space,
    space_from_table,
    space_size,
    space_to_dict,
    validate_space,
)
from seqrec_bench.store import CellIdentity, ResultsDir, StoredCell, config_hash

__all__ = [
    "SAMPLERS",
    "PRUNE_STARTUP_TRIALS",
    "PRUNE_WARMUP_EPOCHS",
    "MissingTuneDependency",
    "TrialPruned",
    "PruningValidator",
    "TuneConfig",
    "ModelTrials",
    "run_trial",
    "run_tuning",
    "load_spaces",
    "read_tuning",
    "best_trial",
    "tuned_run_config",
    "tuning_card",
    "render_tuning",
    "default_tune_dir",
]

#: The samplers ``--sampler`` accepts.
SAMPLERS = ("tpe", "random")
#: Median pruning starts once this many trials of a model have completed (Optuna's default).
PRUNE_STARTUP_TRIALS = 5
#: ... and looks at epochs from this one on (early epochs are noisy; the GRU often sits on a
#: plateau for its first few).
PRUNE_WARMUP_EPOCHS = 5


class MissingTuneDependency(SeqbenchError, ImportError):
    """Optuna is not installed."""


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise MissingTuneDependency(
            "tuning needs Optuna: pip install 'seqrec-bench[tune]' (or pip install optuna)"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# -- a trial, in the worker -------------------------------------------------------------------
class TrialPruned(Exception):  # noqa: N818 - Optuna's name for the same thing
    """Raised by :class:`PruningValidator` to stop a trial's training at an epoch."""

    def __init__(self, epoch: int, best: float, median: float) -> None:
        super().__init__(f"pruned at epoch {epoch}: best {best:.4f} < median {median:.4f}")
        self.epoch, self.best, self.median = epoch, best, median


class PruningValidator:
    """A validator that applies the median-pruning rule after each evaluated epoch.

    It evaluates exactly like the wrapped validator; the trainer calls :meth:`after_epoch`
    with each evaluated epoch's record (:func:`seqrec_bench.training.train`).

    Args:
        inner: the validation evaluator.
        rule: ``{"metric": label, "medians": {epoch: median}, "warmup": epochs}``: the medians
            of the completed trials' validation values at each epoch.
    """

    def __init__(self, inner: Any, rule: Mapping[str, Any]) -> None:
        self.inner = inner
        self.metric = str(rule["metric"])
        self.medians = {int(k): float(v) for k, v in dict(rule.get("medians") or {}).items()}
        self.warmup = int(rule.get("warmup", PRUNE_WARMUP_EPOCHS))
        self.best = -math.inf

    @property
    def metric_labels(self) -> Sequence[str]:
        return list(self.inner.metric_labels)

    def evaluate(self, model: Any) -> Any:
        return self.inner.evaluate(model)

    def after_epoch(self, record: Mapping[str, float]) -> None:
        """Raise :class:`TrialPruned` when the best value so far is below the epoch's median."""
        if self.metric not in record:
            return
        epoch = int(record["epoch"])
        self.best = max(self.best, float(record[self.metric]))
        median = self.medians.get(epoch)
        if epoch >= self.warmup and median is not None and self.best < median:
            raise TrialPruned(epoch, self.best, median)


def median_rule(
    curves: Sequence[Mapping[int, float]], metric: str, warmup: int = PRUNE_WARMUP_EPOCHS
) -> dict[str, Any] | None:
    """The pruning rule from completed trials' validation curves (``{epoch: value}`` each).

    ``None`` before :data:`PRUNE_STARTUP_TRIALS` trials have completed (nothing is pruned).
    """
    if len(curves) < PRUNE_STARTUP_TRIALS:
        return None
    epochs = sorted({e for c in curves for e in c})
    medians = {}
    for e in epochs:
        values = [c[e] for c in curves if e in c and not math.isnan(c[e])]
        if values:
            medians[e] = float(np.percentile(np.array(values, dtype=float), 50))
    return {"metric": metric, "medians": medians, "warmup": warmup}


def run_trial(data: PreparedData, task: CellTask, device: str | None = None) -> CellResult:
    """Fit and validate one trial; the test split is never touched.

    What :func:`seqrec_bench.cell.run_cell` does for a cell whose identity has a ``trial``
    field: fit on the training split with early stopping on validation (and the median pruner
    of ``task.pruning``), then rank the validation targets once more with the kept weights.

    Returns:
        A :class:`~seqrec_bench.cell.CellResult` whose record has ``status`` (``complete`` or
        ``pruned``), ``value`` (the objective, ``None`` when pruned), the validation curve and
        times, and whose ranks are the validation ranks (empty when pruned).
    """

    from seqrec_bench.cell import _cell_environment, _time_to_best, torch_threads
    from seqrec_bench.environment import PeakRSS, gpu_peak_mb, reset_gpu_peak
    from seqrec_bench.evaluation import Evaluator
    from seqrec_bench.models.base import config_from_dict, config_to_dict
    from seqrec_bench.registry import get_model_class

    ident = task.identity
    trial = dict(ident.fields["trial"])
    metric = str(trial.get("metric", MONITOR_METRIC))
    device = device or task.device
    split = data.split

    with torch_threads(task.threads) as threads:
        cls = get_model_class(ident.fields["model_name"])
        config = config_from_dict(cls.config_cls, dict(ident.fields["config"]))
        valid_negs, _ = data.negatives.get(ident.seed, (None, None))
        from seqrec_bench.data.temporal import GlobalTemporalSplit

        evaluator = Evaluator(
            split.valid_inputs,  # leave-one-out: the training sequence itself
            split.valid_targets,
            metrics=list(task.metrics),
            exclude_seen=bool(ident.fields["exclude_seen"]),
            negatives=valid_negs,
            owner=split.valid_owner if isinstance(split, GlobalTemporalSplit) else None,
        )
        validator: Any = (
            PruningValidator(evaluator, task.pruning) if task.pruning is not None else evaluator
        )
        model = cls(config)
        reset_gpu_peak(device)
        status, pruned = "complete", None
        ranks = np.zeros(0, dtype=np.int64)
        validation: dict[str, float] = {}
        t0 = time.perf_counter()
        with PeakRSS() as peak_rss:
            try:
                model.fit(split.train, seed=ident.seed, device=device, validator=validator)
            except TrialPruned as exc:
                status = "pruned"
                pruned = {"epoch": exc.epoch, "best": exc.best, "median": exc.median}
            fit_seconds = time.perf_counter() - t0
            if status == "complete":
                result = evaluator.evaluate(model)
                ranks, validation = result.ranks, result.metrics
        trial_seconds = time.perf_counter() - t0
        record: dict[str, Any] = {
            "dataset": ident.dataset,
            "model": ident.label,
            "seed": ident.seed,
            "variant": ident.variant,
            "run_key": ident.run_key,
            "config_hash": ident.model_config_hash,
            **ident.fields,
            "config": config_to_dict(model.fitted_config())
            if status == "complete"
            else ident.fields["config"],
            "requested_config": ident.fields["config"],
            "selection": model.selection,
            "device": device,
            "threads": threads,
            "users": int(len(ranks)),
            "status": status,
            "metric": metric,
            "value": validation.get(metric) if status == "complete" else None,
            "pruned": pruned,
            "pruning": task.pruning,
            "validation": validation,
            "history": model.history,
            "best_epoch": model.best_epoch,
            "stop_reason": "pruned" if status == "pruned" else model.stop_reason,
            "times": {
                "fit_seconds": fit_seconds,
                "trial_seconds": trial_seconds,
                "best_epoch_seconds": _time_to_best(model.history, model.best_epoch),
                "data_seconds": data.load_seconds,
            },
            "memory": {"peak_rss_mb": peak_rss.mb, "peak_gpu_mb": gpu_peak_mb(device)},
            "parameters": model.n_parameters(),
            "environment": _cell_environment(device, threads),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        return CellResult(ident, record, ranks, None)


# -- the study settings -----------------------------------------------------------------------
@dataclass
class TuneConfig:
    """What ``seqbench tune`` runs.

    Attributes:
        run: the data set (exactly one), the models (labels, ``--set`` values) and where trials
            run (``device``, ``jobs``, ``threads``, ``executor``, ``output``); ``seeds`` and the
            statistics settings are not used.
        trials: trials per model (``None``: only the time budget limits).
        budget_minutes: trial time per model, in minutes (``None``: only ``trials`` limits).
        sampler: ``tpe`` or ``random``.
        seed: the study's seed: the sampler's and every trial's training seed.
        metric: the validation metric maximised (a label such as ``NDCG@10``).
        spaces: per model label (or model name), a ``[tune.MODEL]`` table that narrows or
            replaces the declared space (:func:`~seqrec_bench.models.space.space_from_table`).
        spaces_origin: where ``spaces`` came from (named in errors).
        prune: median-prune the neural models' trials.
    """

    run: RunConfig
    trials: int | None = None
    budget_minutes: float | None = None
    sampler: str = "tpe"
    seed: int = 0
    metric: str = MONITOR_METRIC
    spaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    spaces_origin: str = "[tune]"
    prune: bool = True

    def check(self) -> None:
        """Raise :class:`ConfigError` for settings a study cannot run with."""
        from seqrec_bench.evaluation.metrics import parse_metric

        self.run.check()
        if len(self.run.datasets) != 1:
            raise ConfigError("seqbench tune takes one data set (--dataset)")
        if self.trials is None and self.budget_minutes is None:
            raise ConfigError(
                "give every model the same budget: --trials N (trials per model) or "
                "--budget MINUTES (trial time per model)"
            )
        if self.trials is not None and self.trials < 1:
            raise ConfigError(f"--trials must be >= 1, not {self.trials}")
        if self.budget_minutes is not None and not self.budget_minutes > 0:
            raise ConfigError(f"--budget must be > 0 minutes, not {self.budget_minutes}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(
                f"--sampler must be one of {', '.join(SAMPLERS)}, not {self.sampler!r}"
            )
        try:
            metric = parse_metric(self.metric)
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"--metric: {exc}") from None
        if not metric.higher_is_better:
            raise ConfigError(f"--metric {self.metric}: the objective must be higher-is-better")
        self.metric = metric.label
        if self.run.protocol != "full":
            # the sampled protocols draw test negatives from every item of the user, the test
            # target included: tuning would have to read it
            raise ConfigError(
                "seqbench tune ranks against all items (--protocol full); a sampled protocol's "
                "negatives are drawn around the test target, which tuning never reads"
            )
        if self.run.controls:
            raise ConfigError("--control applies to `seqbench run`, not to tuning")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, not {self.seed}")

    def budget_text(self) -> str:
        """``20 trials per model``, ``10 min of trial time per model`` or both."""
        parts = []
        if self.trials is not None:
            parts.append(f"{self.trials} trials")
        if self.budget_minutes is not None:
            parts.append(f"{self.budget_minutes:g} min of trial time")
        return (
            " or ".join(parts)
            + " per model"
            + (" (whichever ends first)" if len(parts) == 2 else "")
        )


def load_spaces(path: str | Path, *, required: bool = True) -> dict[str, dict[str, Any]]:
    """The ``[tune.MODEL]`` tables of a TOML file (``--space FILE``, or an experiment file's
    ``[tune]`` tables with ``--config``; ``required=False`` gives ``{}`` when it has none).

    Example file::

        [tune.transformer]
        lr = { low = 1e-4, high = 1e-3, log = true }   # narrows the declared range
        hidden = [64, 128]                              # a choice
        exclude = ["weight_decay"]                      # not searched (stays at its default)

        [tune.gru]
        replace = true                                  # search only these fields
        lr = { low = 3e-4, high = 3e-3, log = true }

    Raises:
        ConfigError: unreadable TOML, no ``[tune]`` table, or a table that is not a table.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--space {path}: cannot read ({exc})") from None
    tables = data.get("tune")
    if tables is None and not required:
        return {}
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{path}: needs [tune.MODEL] tables (e.g. [tune.transformer])")
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: tune.{name} must be a table")
    return {str(k).lower(): dict(v) for k, v in tables.items()}


def default_tune_dir(cfg: TuneConfig, base: Path = Path("results")) -> Path:
    """``results/tune-<data set>-<hash>``: rerunning the same command resumes the study."""
    ds = cfg.run.datasets[0]
    key = config_hash(
        {
            "dataset": dataclasses.asdict(ds),
            "protocol": cfg.run.protocol,
            "exclude_seen": cfg.run.exclude_seen,
        }
    )[:8]
    safe = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in ds.name)
    return base / f"tune-{safe}-{key}"


@dataclass
class ModelTrials:
    """One model's study: its space, its key and its stored trials.

    Attributes:
        label: the model's label (table row).
        model: the registered model name.
        spec: the model row (``--set`` values).
        base_config: the resolved config before the search (data-set defaults + ``--set``).
        space: the searched fields.
        key: the study's key (data, model, base config, space, sampler, seed, metric, jobs).
        prunable: whether trials are median-pruned (trainer-based models).
        trials: stored trials by number.
    """

    label: str
    model: str
    spec: ModelSpec
    base_config: Any
    space: dict[str, Param]
    key: str
    prunable: bool
    trials: dict[int, StoredCell] = field(default_factory=dict)

    @property
    def tunable(self) -> bool:
        return bool(self.space)

    def trial_seconds(self) -> float:
        """Trial time spent so far (the sum of the stored trials' wall times)."""
        return float(
            sum(
                float(c.record.get("times", {}).get("trial_seconds", 0.0))
                for c in self.trials.values()
            )
        )


@dataclass
class _Study:
    cfg: TuneConfig
    device: str
    threads: int
    data: PreparedData
    record: dict[str, Any]
    models: list[ModelTrials]
    metrics: tuple[str, ...]


def _validation_only(prepared: PreparedData) -> PreparedData:
    """The prepared data a trial sees: the test targets withheld (padding ids, which no
    evaluator accepts, so a code path that used them would fail rather than leak) and, under
    the global temporal split, the test inputs too (they hold the interactions after ``T``)."""
    from seqrec_bench.data.sequences import Sequences
    from seqrec_bench.data.split import LeaveOneOutSplit
    from seqrec_bench.data.temporal import GlobalTemporalSplit

    split = prepared.split
    withheld: LeaveOneOutSplit | GlobalTemporalSplit
    if isinstance(split, GlobalTemporalSplit):
        n = len(split.test_owner)
        withheld = dataclasses.replace(
            split,
            test_inputs=Sequences.from_lengths(
                np.zeros(0, dtype=np.int64), np.zeros(n, dtype=np.int64), split.n_items
            ),
            _test_targets=np.zeros(n, dtype=np.int64),
        )
    else:
        withheld = LeaveOneOutSplit(
            train=split.train,
            valid_targets=split.valid_targets,
            _test_targets=np.zeros(split.n_users, dtype=np.int64),
        )
    # full ranking only (TuneConfig.check): no sampled negatives to carry
    return dataclasses.replace(prepared, split=withheld, negatives={})


def _prepare(cfg: TuneConfig, log: Callable[[str], None]) -> _Study:
    from seqrec_bench.data import hygiene_line
    from seqrec_bench.data.cache import PREPARED_FORMAT_VERSION
    from seqrec_bench.evaluation.ranking import RANKING_RULE
    from seqrec_bench.executor import default_threads
    from seqrec_bench.models.base import config_to_dict
    from seqrec_bench.plan import _load, resolve_model_config
    from seqrec_bench.registry import get_model_class
    from seqrec_bench.training.device import resolve_device

    cfg.check()
    run = cfg.run
    try:
        device = str(resolve_device(run.device))
    except ValueError as exc:
        raise ConfigError(f"--device: {exc}") from None
    known = {m.label for m in run.models} | {m.model for m in run.models}
    unknown = sorted(set(cfg.spaces) - known)
    if unknown:
        raise ConfigError(
            f"{cfg.spaces_origin}: [tune.{unknown[0]}] names no model of this study "
            f"({', '.join(m.label for m in run.models)})"
        )
    for m in run.models:
        get_model_class(m.model)
    if run.executor == "ray":
        threads = run.threads or max(1, int(run.cpus_per_cell))
    else:
        threads = run.threads or default_threads(run.jobs)
    ds_spec = run.datasets[0]
    prepared, record, dataset = _load(ds_spec, run)
    log(
        f"[bold]{ds_spec.name}[/]: {prepared.split.n_users:,} users, "
        f"{prepared.split.n_items:,} items (loaded in {prepared.load_seconds:.2f}s; checksum "
        f"{dataset.checksum[:12]}); tuning reads the training and validation items only"
    )
    log(f"  {hygiene_line(dataset.stats)}")
    data = _validation_only(prepared)
    metrics = list(stored_metrics(run.ks))
    if cfg.metric not in metrics:
        metrics.append(cfg.metric)
    models = []
    for spec in run.models:
        cls, base = resolve_model_config(spec, prepared.train_stats)
        declared = dict(getattr(cls, "search_space", {}) or {})
        table = cfg.spaces.get(spec.label, cfg.spaces.get(spec.model))
        origin = f"{cfg.spaces_origin} [tune.{spec.label}]"
        space = space_from_table(declared, table, origin=origin) if table else declared
        # a field fixed by --set (or a file's typed override) is not searched
        fixed = set(spec.set_options) | set(spec.overrides)
        space = {k: v for k, v in space.items() if k not in fixed}
        validate_space(spec.label, cls.config_cls, space, base=base)
        base_dict = config_to_dict(base)
        prunable = cfg.prune and "max_epochs" in base_dict
        key = config_hash(
            {
                "dataset_key": prepared.key,
                "data_format": PREPARED_FORMAT_VERSION,
                "protocol": run.protocol,
                "exclude_seen": run.exclude_seen,
                "ranking": RANKING_RULE,
                # absent for leave-one-out, so existing studies keep their keys
                **({"split": run.split.options()} if run.split.kind != "loo" else {}),
                "model": cls.name,
                "model_version": int(getattr(cls, "version", 1)),
                "base_config": base_dict,
                "space": space_to_dict(space),
                "sampler": cfg.sampler,
                "seed": cfg.seed,
                "metric": cfg.metric,
                "jobs": run.jobs,
                "pruning": [PRUNE_STARTUP_TRIALS, PRUNE_WARMUP_EPOCHS] if prunable else None,
            }
        )
        models.append(ModelTrials(spec.label, cls.name, spec, base, space, key, prunable))
    study = _Study(cfg, device, threads, data, record, models, tuple(metrics))
    study.record["fields"] = {
        "dataset_key": prepared.key,
        "data_format": PREPARED_FORMAT_VERSION,
        "ranking": RANKING_RULE,
    }
    return study


def _trial_fields(study: _Study, mt: ModelTrials, number: int, params: dict[str, Any]) -> dict:
    """The identity fields of trial ``number``: a run cell's, plus the ``trial`` field."""
    from seqrec_bench.models.base import config_to_dict, resolve_config
    from seqrec_bench.registry import get_model_class
    from seqrec_bench.store import IDENTITY_FIELDS

    try:
        config = resolve_config(mt.base_config, params)
    except ConfigError as exc:
        raise ConfigError(f"{mt.label} trial {number} ({params}): {exc}") from None
    cls = get_model_class(mt.model)
    base = study.record["fields"]
    fields = {
        "dataset_key": base["dataset_key"],
        "data_format": base["data_format"],
        "split": study.cfg.run.split.name,
        "split_options": study.cfg.run.split.options(),
        "protocol": study.cfg.run.protocol,
        "exclude_seen": study.cfg.run.exclude_seen,
        "ranking": base["ranking"],
        "model_name": cls.name,
        "model_version": int(getattr(cls, "version", 1)),
        "config": config_to_dict(config),
        "device_type": study.device.split(":")[0],
        "control": None,
        "trial": {"study": mt.key, "number": number, "params": params, "metric": study.cfg.metric},
    }
    # the same fields as a run cell's (seqrec_bench.plan.build_plan), so a new identity field
    # added there fails here loudly instead of keying trials differently
    assert set(fields) == set(IDENTITY_FIELDS)
    return fields


def _stored_trials(rd: ResultsDir, key: str, warn: Callable[[str], None] | None) -> dict:
    cells, problems = rd.scan()
    if warn is not None:
        for problem in problems:
            warn(f"unreadable trial cell {problem}; its trial runs again")
    out: dict[int, StoredCell] = {}
    for c in cells:
        trial = c.identity.fields.get("trial")
        if isinstance(trial, dict) and trial.get("study") == key:
            out[int(trial["number"])] = c
    return out


def _curve(cell: StoredCell, metric: str) -> dict[int, float]:
    """A trial's validation curve ``{epoch: value}`` (empty for models without epochs)."""
    return {
        int(h["epoch"]): float(h[metric])
        for h in cell.record.get("history") or []
        if "epoch" in h and metric in h
    }


def _distributions(optuna: Any, space: Mapping[str, Param]) -> dict[str, Any]:
    d = optuna.distributions
    out: dict[str, Any] = {}
    for name, p in space.items():
        if p.kind == "float":
            out[name] = d.FloatDistribution(float(p.low), float(p.high), log=p.log)  # type: ignore[arg-type]
        elif p.kind == "int":
            out[name] = d.IntDistribution(int(p.low), int(p.high), log=p.log)  # type: ignore[arg-type]
        else:
            out[name] = d.CategoricalDistribution(list(p.choices))
    return out


def _sampler(optuna: Any, kind: str, seed: int, label: str, number: int) -> Any:
    # one seed per (study seed, model, trial number): a proposal depends on the trials before
    # it and not on how many proposals this process has drawn (a resume proposes the same)
    trial_seed = int(config_hash({"seed": seed, "model": label, "trial": number}), 16) % (2**32)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=trial_seed)
    return optuna.samplers.TPESampler(seed=trial_seed)


def _ask(optuna: Any, study: _Study, mt: ModelTrials, number: int, seen: list[StoredCell]) -> dict:
    """Trial ``number``'s parameters, proposed from the trials in ``seen`` (the ask/tell loop,
    with the study rebuilt from the store)."""
    if not mt.space:
        return {}
    dists = _distributions(optuna, mt.space)
    metric = study.cfg.metric
    opt = optuna.create_study(
        direction="maximize",
        sampler=_sampler(optuna, study.cfg.sampler, study.cfg.seed, mt.label, number),
    )
    for cell in sorted(seen, key=lambda c: c.identity.fields["trial"]["number"]):
        rec = cell.record
        complete = rec.get("status") == "complete"
        opt.add_trial(
            optuna.trial.create_trial(
                params=dict(cell.identity.fields["trial"]["params"]),
                distributions=dists,
                value=float(rec["value"]) if complete else None,
                intermediate_values=_curve(cell, metric),
                state=optuna.trial.TrialState.COMPLETE
                if complete
                else optuna.trial.TrialState.PRUNED,
            )
        )
    trial = opt.ask(fixed_distributions=dists)
    params = {}
    for name in mt.space:
        value = trial.params[name]
        params[name] = value.item() if isinstance(value, np.generic) else value
    return params


def _task(optuna: Any, study: _Study, mt: ModelTrials, number: int, start: int) -> CellTask:
    seen = [c for n, c in mt.trials.items() if n < start]
    params = _ask(optuna, study, mt, number, seen)
    fields = _trial_fields(study, mt, number, params)
    identity = CellIdentity(study.data.name, mt.label, study.cfg.seed, fields)
    pruning = None
    if mt.prunable:
        complete = [c for c in seen if c.record.get("status") == "complete"]
        pruning = median_rule([_curve(c, study.cfg.metric) for c in complete], study.cfg.metric)
    return CellTask(
        identity,
        study.metrics,
        study.device,
        study.threads,
        pruning=pruning,
        deterministic=study.cfg.run.deterministic,
    )


def _limit(cfg: TuneConfig, mt: ModelTrials) -> tuple[int | None, float | None]:
    """(trials, seconds) this model may use: a model with nothing to tune runs once."""
    if not mt.tunable:
        return 1, None
    seconds = cfg.budget_minutes * 60.0 if cfg.budget_minutes is not None else None
    return cfg.trials, seconds


def _describe_trial(cell: StoredCell | CellResult) -> str:
    rec = cell.record
    params = rec["trial"]["params"]
    shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items()) or "defaults"
    if rec.get("status") == "pruned":
        return f"pruned at epoch {rec['pruned']['epoch']} ({shown})"
    return f"{rec['metric']} {rec['value']:.4f} ({shown})"


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def run_tuning(
    cfg: TuneConfig,
    console: Any = None,
    log: Any = None,
    *,
    dry_run: bool = False,
    quiet: bool = False,
) -> Path:
    """Run (or resume) the study of every model, then print the best trial of each.

    Args:
        cfg: the study settings.
        console: rich console for results (stdout).
        log: rich console for progress and diagnostics (stderr).
        dry_run: print, per model, the stored trials and what remains, and stop.
        quiet: no progress lines.

    Returns:
        The tuning folder.

    Raises:
        MissingTuneDependency: Optuna is not installed (before any data loads).
        CellsFailedError: a trial raised (the finished trials are stored; rerun to resume).
    """
    from rich.console import Console

    from seqrec_bench import __version__
    from seqrec_bench.environment import environment_info
    from seqrec_bench.plan import Plan
    from seqrec_bench.runner import CellsFailedError, _executor

    console = console or Console()
    log = log or Console(stderr=True)

    def say(text: str) -> None:
        if not quiet:
            log.print(text, highlight=False)

    def warn(text: str) -> None:
        log.print(f"[yellow]warning:[/] {text}", highlight=False)

    optuna = None if dry_run else _optuna()
    study = _prepare(cfg, say)
    out = Path(cfg.run.output) if cfg.run.output else default_tune_dir(cfg)
    if out.exists() and not out.is_dir():
        raise ResultsError(f"--output {out} is a file; pass a folder")
    rd = ResultsDir(out)
    for mt in study.models:
        say(
            f"  [cyan]{mt.label}[/]: {describe_space(mt.space)} "
            f"({space_size(mt.space)}); study {mt.key[:8]}"
        )
    if dry_run:
        for mt in study.models:
            mt.trials = _stored_trials(rd, mt.key, warn)
        _render_dry_run(study, out, console)
        return out
    assert optuna is not None
    started = datetime.now(UTC).isoformat(timespec="seconds")
    plan = Plan(cfg.run, study.device, study.threads, {study.data.name: study.data}, {}, {})
    executor = _executor(plan)
    wall: dict[str, float] = {}
    if cfg.run.executor == "ray":
        from seqrec_bench.runner import _ray_check

        _ray_check()
    # one Ray session for every batch of trials (the local executors need none)
    session = getattr(executor, "session", None)
    with (
        session() if session is not None else contextlib.nullcontext(),
        rd.lock(on_wait=lambda text: log.print(f"[yellow]note:[/] {text}", highlight=False)),
    ):
        rd.write_dataset(study.data.name, {k: v for k, v in study.record.items() if k != "fields"})
        record = _study_record(study, started, __version__, optuna.__version__)
        record["environment"] = environment_info(study.device, study.threads)
        rd.write_study(record)
        for mt in study.models:
            mt.trials = _stored_trials(rd, mt.key, warn)
            t_model = time.perf_counter()
            ran = _run_model(optuna, study, mt, rd, executor, say, CellsFailedError, out)
            wall[mt.label] = time.perf_counter() - t_model
            if ran:
                best = best_trial(mt.trials)
                say(
                    f"  {mt.label}: {ran} trial(s) run in {wall[mt.label]:.1f}s; best "
                    + (
                        f"#{best} {_describe_trial(mt.trials[best])}"
                        if best is not None
                        else "none"
                    )
                )
        record = _study_record(study, started, __version__, optuna.__version__, wall)
        record["environment"] = environment_info(study.device, study.threads)
        record["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        rd.write_study(record)
    render_tuning(out, console)
    log.print(f"tuning: {out}")
    return out


def _run_model(
    optuna: Any,
    study: _Study,
    mt: ModelTrials,
    rd: ResultsDir,
    executor: Any,
    say: Callable[[str], None],
    failed_error: Any,
    out: Path,
) -> int:
    """Run the missing trials of one model's study, ``jobs`` at a time; return how many ran."""
    max_trials, max_seconds = _limit(study.cfg, mt)
    batch = max(1, study.cfg.run.jobs)
    failures: list[CellFailure] = []
    ran = 0

    def on_done(outcome: CellResult | CellFailure) -> None:
        nonlocal ran
        if isinstance(outcome, CellFailure):
            failures.append(outcome)
            return
        rd.write_cell(outcome.identity, outcome.record, outcome.ranks, None)
        found = rd.find(outcome.identity)
        number = int(outcome.identity.fields["trial"]["number"])
        if isinstance(found, StoredCell):
            mt.trials[number] = found
        ran += 1
        total = f" of {max_trials}" if max_trials is not None else ""
        say(
            f"    {mt.label} trial #{number} ({len(mt.trials)}{total}): "
            f"{_describe_trial(outcome)}, {outcome.record['times']['trial_seconds']:.1f}s"
        )

    start = 0
    while True:
        numbers = list(range(start, start + batch))
        if max_trials is not None:
            numbers = [n for n in numbers if n < max_trials]
        if not numbers:
            break
        missing = [n for n in numbers if n not in mt.trials]
        if not missing:
            start += batch  # stored (a resumed study): walk past them
            continue
        if max_seconds is not None and mt.trial_seconds() >= max_seconds:
            break  # the budget is spent; trials that had started have finished
        # every trial of the batch is asked from the trials before `start`
        tasks = [_task(optuna, study, mt, n, start) for n in missing]
        executor.run(tasks, {study.data.name: study.data}, on_done)
        if failures:
            listed = "; ".join(f.describe() for f in failures)
            raise failed_error(
                f"{len(failures)} trial(s) of {mt.label} failed ({listed}); the finished "
                f"trials are stored in {out}: fix the cause and rerun to resume",
                failures,
            )
        start += batch
    return ran


def _study_record(
    study: _Study,
    started: str,
    version: str,
    optuna_version: str,
    wall: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The ``tuning.json`` record: the study settings and, per model, its space and results."""
    from seqrec_bench.models.base import config_to_dict
    from seqrec_bench.runner import _command

    cfg = study.cfg
    models = []
    for mt in study.models:
        best = best_trial(mt.trials)
        entry: dict[str, Any] = {
            "label": mt.label,
            "model": mt.model,
            "study": mt.key,
            "space": space_to_dict(mt.space),
            "space_text": describe_space(mt.space),
            "space_size": space_size(mt.space),
            "base_config": config_to_dict(mt.base_config),
            "set_options": dict(mt.spec.set_options),
            "pruned_by_median": mt.prunable,
            "trials_run": len(mt.trials),
            "trials_pruned": sum(c.record.get("status") == "pruned" for c in mt.trials.values()),
            "trial_seconds": mt.trial_seconds(),
        }
        if wall is not None and mt.label in wall:
            entry["wall_seconds_last_command"] = wall[mt.label]
        if best is not None:
            rec = mt.trials[best].record
            entry["best"] = {
                "number": best,
                "value": rec["value"],
                "params": rec["trial"]["params"],
                "config": rec["requested_config"],
            }
        models.append(entry)
    return {
        "command": _command(),
        "started": started,
        "seqrec_bench": version,
        "optuna": optuna_version,
        "dataset": dataclasses.asdict(cfg.run.datasets[0]),
        "dataset_name": cfg.run.datasets[0].name,
        "settings": {
            "sampler": cfg.sampler,
            "seed": cfg.seed,
            "metric": cfg.metric,
            "trials": cfg.trials,
            "budget_minutes": cfg.budget_minutes,
            "budget": cfg.budget_text(),
            "jobs": cfg.run.jobs,
            "executor": cfg.run.executor,
            "protocol": cfg.run.protocol,
            "exclude_seen": cfg.run.exclude_seen,
            "split": dataclasses.asdict(cfg.run.split),
            "ks": list(cfg.run.ks),
            "device": study.device,
            "threads": study.threads,
            "pruner": {
                "rule": "median (Optuna's MedianPruner) on the per-epoch validation curve",
                "startup_trials": PRUNE_STARTUP_TRIALS,
                "warmup_epochs": PRUNE_WARMUP_EPOCHS,
            }
            if cfg.prune
            else None,
        },
        "models": models,
    }


def _render_dry_run(study: _Study, out: Path, console: Any) -> None:
    from rich.table import Table

    cfg = study.cfg
    table = Table(title=f"tuning plan for {out} ({cfg.budget_text()})", title_justify="left")
    for col in ("model", "study", "space", "stored trials", "pruned", "to run"):
        table.add_column(col)
    for mt in study.models:
        max_trials, max_seconds = _limit(cfg, mt)
        done = len(mt.trials)
        if max_trials is not None:
            missing = [n for n in range(max_trials) if n not in mt.trials]
            todo = f"{len(missing)} trial(s)"
            if max_seconds is not None:
                todo += f" within {max_seconds / 60:g} min ({mt.trial_seconds() / 60:.1f} spent)"
        else:
            assert max_seconds is not None
            left = max(0.0, max_seconds - mt.trial_seconds())
            todo = f"until {max_seconds / 60:g} min of trial time ({left / 60:.1f} min left)"
        pruned = sum(c.record.get("status") == "pruned" for c in mt.trials.values())
        table.add_row(mt.label, mt.key[:8], space_size(mt.space), str(done), str(pruned), todo)
    console.print(table)
    console.print(
        f"sampler {cfg.sampler}, seed {cfg.seed}, objective validation {cfg.metric}, "
        f"{cfg.run.jobs} job(s) x {study.threads} thread(s) on {study.device}",
        highlight=False,
    )


# -- reading a tuning folder ------------------------------------------------------------------
def best_trial(trials: Mapping[int, StoredCell]) -> int | None:
    """The best completed trial's number: highest validation value, ties to the lower number."""
    complete = [
        (n, float(c.record["value"]))
        for n, c in trials.items()
        if c.record.get("status") == "complete" and c.record.get("value") is not None
    ]
    if not complete:
        return None
    return min(complete, key=lambda nv: (-nv[1], nv[0]))[0]


def read_tuning(root: str | Path) -> tuple[dict[str, Any], dict[str, dict[int, StoredCell]]]:
    """A tuning folder's study record and, per model label, its stored trials by number.

    Raises:
        ResultsError: the folder holds no ``tuning.json`` (not a ``seqbench tune`` folder).
    """
    rd = ResultsDir(root)
    if not Path(root).is_dir():
        raise ResultsError(f"tuning folder {root} does not exist")
    record = rd.read_study()
    if not record:
        raise ResultsError(
            f"{root} is not a tuning folder (no tuning.json); pass the folder `seqbench tune` "
            "printed"
        )
    trials: dict[str, dict[int, StoredCell]] = {}
    for entry in record.get("models", []):
        trials[entry["label"]] = _stored_trials(rd, entry["study"], None)
    return record, trials


def tuned_run_config(root: str | Path, models: Sequence[str] | None = None) -> RunConfig:
    """The run of ``seqbench run --tuned DIR``: the study's data set and every model's best
    configuration (its full resolved config, so the run trains exactly that).

    Args:
        root: the tuning folder.
        models: only these labels (default: every model of the study).

    Raises:
        ResultsError: not a tuning folder, a model without a completed trial, or a label that
            is not in the study.
    """
    record, trials = read_tuning(root)
    entries = {e["label"]: e for e in record.get("models", [])}
    labels = list(models) if models else list(entries)
    specs = []
    tuning_models = []
    for label in labels:
        if label not in entries:
            raise ResultsError(
                f"--models {label}: not tuned in {root} (tuned: {', '.join(entries)})"
            )
        entry = entries[label]
        best = best_trial(trials.get(label, {}))
        if best is None:
            raise ResultsError(
                f"{label} has no completed trial in {root}; rerun `seqbench tune` there first"
            )
        rec = trials[label][best].record
        specs.append(
            ModelSpec(
                label=label,
                model=entry["model"],
                overrides=dict(rec["requested_config"]),
                origin=f"{root} (best trial #{best})",
            )
        )
        tuning_models.append(
            {
                "label": label,
                "trials": len(trials.get(label, {})),
                "pruned": sum(
                    c.record.get("status") == "pruned" for c in trials.get(label, {}).values()
                ),
                "space": entry.get("space_text", ""),
                "space_size": entry.get("space_size", ""),
                "best_number": best,
                "best_value": rec["value"],
                "params": rec["trial"]["params"],
            }
        )
    ds = DatasetSpec(**record["dataset"])
    settings = record.get("settings", {})
    cfg = RunConfig(datasets=[ds], models=specs)
    # the tuned configs were chosen under the study's protocol: the run uses the same
    cfg.protocol = settings.get("protocol", cfg.protocol)
    cfg.exclude_seen = bool(settings.get("exclude_seen", cfg.exclude_seen))
    cfg.ks = list(settings.get("ks", cfg.ks))
    if settings.get("split"):
        cfg.split = SplitSpec(**settings["split"])
    cfg.output = Path(root) / "run"
    cfg.tuning = {
        "folder": str(root),
        "sampler": record["settings"]["sampler"],
        "seed": record["settings"]["seed"],
        "metric": record["settings"]["metric"],
        "budget": record["settings"]["budget"],
        "pruner": record["settings"].get("pruner"),
        "optuna": record.get("optuna"),
        "models": tuning_models,
    }
    return cfg


def tuning_card(tuning: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """The protocol-card lines and the footnote sentence of a run of tuned configurations."""
    sampler = "TPE" if tuning.get("sampler") == "tpe" else str(tuning.get("sampler"))
    pruner = tuning.get("pruner")
    pruning = (
        f", median pruning ({pruner['startup_trials']} startup trials, "
        f"{pruner['warmup_epochs']} warm-up epochs)"
        if pruner
        else ""
    )
    lines = {
        "tuning": (
            f"every model tuned with the same budget, {tuning.get('budget')}: Optuna "
            f"{sampler} sampler (seed {tuning.get('seed')}){pruning}, best config by validation "
            f"{tuning.get('metric')}; the test split was not read while tuning "
            f"({tuning.get('folder')})"
        )
    }
    for m in tuning.get("models", []):
        if m.get("space") in (None, "", "nothing to tune"):
            lines[f"tuning {m['label']}"] = "nothing to tune: defaults (1 trial)"
            continue
        pruned = f", {m['pruned']} pruned" if m.get("pruned") else ""
        lines[f"tuning {m['label']}"] = (
            f"{m['trials']} trials run{pruned}; space {m['space']} ({m['space_size']}); best "
            f"trial #{m['best_number']}, validation {tuning.get('metric')} "
            f"{float(m['best_value']):.4f}"
        )
    counts = ", ".join(f"{m['label']} {m['trials']}" for m in tuning.get("models", []))
    note = (
        f"Configs tuned on validation with the same budget for every model ({tuning.get('budget')}, "
        f"Optuna {sampler}; trials run: {counts}); see the card's tuning lines."
    )
    return lines, note


def render_tuning(root: str | Path, console: Any, fmt: str = "console") -> dict[str, Any]:
    """``seqbench table DIR --tuning``: the best trial of every model and the study settings.

    Returns:
        The summary printed (also what ``--format json`` prints).
    """
    from rich.table import Table

    from seqrec_bench.store import to_json

    record, trials = read_tuning(root)
    settings = record.get("settings", {})
    metric = settings.get("metric", MONITOR_METRIC)
    rows = []
    for entry in record.get("models", []):
        label = entry["label"]
        mine = trials.get(label, {})
        best = best_trial(mine)
        rec = mine[best].record if best is not None else None
        rows.append(
            {
                "model": label,
                "trials": len(mine),
                "pruned": sum(c.record.get("status") == "pruned" for c in mine.values()),
                "trial_minutes": sum(
                    float(c.record["times"].get("trial_seconds", 0.0)) for c in mine.values()
                )
                / 60.0,
                "best_trial": best,
                "best_value": rec["value"] if rec else None,
                "best_params": rec["trial"]["params"] if rec else None,
                "space": entry.get("space_text", ""),
                "space_size": entry.get("space_size", ""),
            }
        )
    summary = {
        "folder": str(root),
        "dataset": record.get("dataset_name"),
        "budget": settings.get("budget"),
        "sampler": settings.get("sampler"),
        "seed": settings.get("seed"),
        "metric": metric,
        "pruner": settings.get("pruner"),
        "models": rows,
    }
    if fmt == "json":
        console.print(to_json(summary), markup=False, highlight=False, soft_wrap=True, end="")
        return summary

    def params_text(p: Mapping[str, Any] | None) -> str:
        if p is None:
            return "-"
        return ", ".join(f"{k}={_short(v)}" for k, v in p.items()) or "defaults (nothing to tune)"

    head = (
        f"tuning of {summary['dataset']}: {summary['budget']}, sampler {summary['sampler']} "
        f"(seed {summary['seed']}), objective validation {metric}"
    )
    columns = [
        "model",
        "trials",
        "pruned",
        "trial min",
        "best trial",
        f"valid {metric}",
        "best config",
    ]
    cells = [
        [
            r["model"],
            str(r["trials"]),
            str(r["pruned"]),
            f"{r['trial_minutes']:.1f}",
            "-" if r["best_trial"] is None else f"#{r['best_trial']}",
            "-" if r["best_value"] is None else f"{r['best_value']:.4f}",
            params_text(r["best_params"]),
        ]
        for r in rows
    ]
    spaces = [f"{r['model']}: {r['space']} ({r['space_size']})" for r in rows]
    if fmt == "markdown":
        lines = [head, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(c) + " |" for c in cells]
        lines += ["", *[f"- space {s}" for s in spaces]]
        console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
        return summary
    table = Table(title=head, title_justify="left")
    for col in columns:
        table.add_column(col)
    for c in cells:
        table.add_row(*c)
    console.print(table)
    for s in spaces:
        console.print(f"space {s}", highlight=False, markup=False)
    return summary
