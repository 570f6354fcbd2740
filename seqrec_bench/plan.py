"""The plan of a run: every cell it needs, with its key, computed without training.

:func:`build_plan` loads and splits each data set, resolves every model's config (data-set
defaults from the *training* split's statistics, then the user's overrides) and lists one
:class:`~seqrec_bench.cell.CellTask` per (data set, model, seed). :func:`plan_status` compares
the plan with a results folder: which cells are complete, which must run (missing or torn), and
which stored cells of the same rows came from another config (stale: listed, never averaged).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqrec_bench.cell import CellTask, PreparedData
from seqrec_bench.config import DatasetSpec, ModelSpec, RunConfig, stored_metrics
from seqrec_bench.errors import ConfigError
from seqrec_bench.models.base import Model
from seqrec_bench.store import IDENTITY_FIELDS, CellIdentity, Problem, ResultsDir, StoredCell

__all__ = [
    "Plan",
    "PlanStatus",
    "build_plan",
    "plan_status",
    "resolve_model_config",
    "control_label",
]

#: The split of every cell before ``--split`` existed (PROTOCOL §2); the default.
SPLIT = "leave-one-out"


@dataclass
class Plan:
    """What a run will compute.

    Attributes:
        cfg: the run configuration.
        device: the resolved device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
        threads: torch threads per cell.
        data: prepared data by data set label.
        datasets: the record of each data set (written to ``datasets/<label>.json``).
        configs: the resolved config of each (data set, model label).
        tasks: one per cell, in (data set, model, seed) order.
    """

    cfg: RunConfig
    device: str
    threads: int
    data: dict[str, PreparedData]
    datasets: dict[str, dict[str, Any]]
    configs: dict[tuple[str, str], dict[str, Any]]
    tasks: list[CellTask] = field(default_factory=list)


@dataclass
class PlanStatus:
    """A plan against a results folder."""

    complete: list[tuple[CellTask, StoredCell]] = field(default_factory=list)
    todo: list[CellTask] = field(default_factory=list)
    torn: list[tuple[CellTask, Problem]] = field(default_factory=list)
    stale: list[StoredCell] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


#: How a control's row is labelled: ``"transformer [shuffled]"``.
CONTROL_SUFFIX = {"shuffle": "shuffled"}


def control_label(label: str, control: str) -> str:
    """The table label of ``label``'s row under ``control``.

    Example:
        >>> control_label("transformer", "shuffle")
        'transformer [shuffled]'
    """
    return f"{label} [{CONTROL_SUFFIX.get(control, control)}]"


def resolve_model_config(spec: ModelSpec, train_stats: dict[str, Any]) -> tuple[type[Model], Any]:
    """The model class and its resolved config: data-set defaults, then typed overrides (strict),
    then ``--set`` strings (parsed by each field's type)."""
    from seqrec_bench.models.base import resolve_config
    from seqrec_bench.registry import get_model_class

    cls = get_model_class(spec.model)
    try:
        config = resolve_config(cls.default_config(train_stats), spec.overrides, spec.set_options)
    except ConfigError as exc:
        where = f"{spec.origin}: " if spec.origin else ""
        raise ConfigError(f"{where}model {spec.label!r}: {exc}") from None
    return cls, config


def _negatives(dataset: Any, split: Any, protocol: str, seeds: list[int]) -> dict[int, Any]:
    """Sampled-protocol negatives per seed (shared by every model of the seed).

    Validation negatives avoid the training items and the validation target only (the test
    item is never consulted before the final test), test negatives every item of the user;
    each user draws from a stream keyed by their raw id, so one user more or less changes no
    one else's negatives (PROTOCOL §3).
    """
    from seqrec_bench.evaluation.sampling import loo_negatives, parse_protocol, stable_user_keys

    kind, n = parse_protocol(protocol)
    if kind == "full":
        return {}
    keys = stable_user_keys(dataset.vocab.user_ids)
    try:
        return {
            seed: loo_negatives(
                split, n, kind=kind, seed=seed, dataset_key=dataset.key, user_keys=keys
            )
            for seed in seeds
        }
    except ValueError as exc:  # too few unseen items for the protocol
        raise ConfigError(f"--protocol {protocol}: {exc}") from None


def _split(dataset: Any, cfg: RunConfig) -> Any:
    """The split of ``cfg.split`` over a loaded data set (its timestamps carried into every
    input, for time-aware models)."""
    from seqrec_bench.data import DatasetError, LeaveOneOutSplit
    from seqrec_bench.data.temporal import GlobalTemporalSplit

    spec = cfg.split
    if spec.kind == "loo":
        seqs = dataset.sequences
        if dataset.timestamps is not None:
            seqs = seqs.with_times(dataset.timestamps)
        return LeaveOneOutSplit.from_sequences(seqs)
    try:
        return GlobalTemporalSplit.from_dataset(
            dataset,
            q=spec.q,
            boundary=spec.boundary,
            target=spec.target,
            valid=spec.valid,
            valid_share=spec.valid_share,
            seed=spec.seed,
        )
    except DatasetError as exc:
        raise ConfigError(f"--split gts: {exc}") from None


def split_record(split: Any) -> dict[str, Any]:
    """What the data set record (and the protocol card) says about a split."""
    from seqrec_bench.data.temporal import GlobalTemporalSplit

    train_items = split.train.item_counts()[1:]
    common = {
        "users": split.n_users,
        "train_interactions": int(len(split.train.items)),
        # items with no training interaction: still candidates, with no training signal
        "items_without_training": int((train_items == 0).sum()),
    }
    if not isinstance(split, GlobalTemporalSplit):
        return {
            "kind": SPLIT,
            **common,
            "validation_targets": split.n_users,
            "test_targets": split.n_users,
        }
    return {
        "kind": "gts",
        "boundary": split.boundary,
        "valid_boundary": split.valid_boundary,
        "target": split.target,
        "valid": split.valid,
        **common,
        "train_users": int((split.train.lengths > 0).sum()),
        "validation_users": int(len(split.valid_users)),
        "validation_targets": int(len(split.valid_targets)),
        "test_users": int(len(split.test_users)),
        "test_targets": int(len(split.test_owner)),
    }


def _load(ds_spec: DatasetSpec, cfg: RunConfig) -> tuple[PreparedData, dict[str, Any], Any]:
    from seqrec_bench.data import load_dataset
    from seqrec_bench.data.stats import dataset_stats
    from seqrec_bench.evaluation.sampling import parse_protocol

    t0 = time.perf_counter()
    dataset = load_dataset(
        ds_spec.source, format=ds_spec.format, data_dir=ds_spec.data_dir, **ds_spec.options
    )
    split = _split(dataset, cfg)
    seconds = time.perf_counter() - t0
    kind, n_neg = parse_protocol(cfg.protocol)
    n_candidates = dataset.sequences.n_items if kind == "full" else n_neg + 1
    too_big = [k for k in cfg.ks if k > n_candidates]
    if too_big:
        raise ConfigError(
            f"k={max(too_big)} is larger than the {n_candidates} candidates per user of "
            f"{ds_spec.name}; use smaller --k values"
        )
    # under gts a user may have no training row; defaults come from the users that train
    trained = split.train.select(np.flatnonzero(split.train.lengths > 0))
    prepared = PreparedData(
        name=ds_spec.name,
        key=dataset.key,
        split=split,
        train_stats=dataset_stats(trained),
        negatives=_negatives(dataset, split, cfg.protocol, cfg.seeds),
        load_seconds=seconds,
    )
    record = {
        "name": ds_spec.name,
        "source": ds_spec.source,
        "checksum": dataset.checksum,
        "key": dataset.key,
        "options": dataset.options,
        "stats": dataset.stats,
        "split": split_record(split),
        "load_seconds": seconds,
    }
    return prepared, record, dataset


def build_plan(
    cfg: RunConfig,
    log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Plan:
    """Load the data and list every cell of ``cfg``; nothing is trained.

    ``log`` gets the data set summaries (progress), ``warn`` the data hygiene warnings
    (duplicates, ties, repeats above their thresholds), which a quiet run still shows.

    Everything that can be wrong with the settings (protocol, device, model names and configs,
    k larger than the candidates) fails here, before the first cell starts.
    """
    from seqrec_bench.data import hygiene_line, hygiene_warnings
    from seqrec_bench.data.cache import PREPARED_FORMAT_VERSION
    from seqrec_bench.evaluation.ranking import RANKING_RULE
    from seqrec_bench.executor import default_threads
    from seqrec_bench.models.base import config_to_dict
    from seqrec_bench.registry import get_model_class
    from seqrec_bench.training.device import resolve_device

    cfg.check()
    try:
        device = str(resolve_device(cfg.device))
    except ValueError as exc:
        raise ConfigError(f"--device: {exc}") from None
    for m in cfg.models:  # unknown or broken models fail before any data is loaded
        get_model_class(m.model)
    if cfg.executor == "ray":
        # a Ray cell gets the CPUs it reserved (--threads default: --cpus-per-cell)
        threads = cfg.threads or max(1, int(cfg.cpus_per_cell))
    else:
        threads = cfg.threads or default_threads(cfg.jobs)
    metrics = tuple(stored_metrics(cfg.ks))
    plan = Plan(cfg, device, threads, {}, {}, {})
    for ds_spec in cfg.datasets:
        prepared, record, dataset = _load(ds_spec, cfg)
        plan.data[ds_spec.name] = prepared
        plan.datasets[ds_spec.name] = record
        if log is not None:
            st = dataset.stats
            log(
                f"[bold]{ds_spec.name}[/]: {st.get('users', prepared.split.n_users):,} users, "
                f"{st.get('items', prepared.split.n_items):,} items, "
                f"{st.get('interactions', len(dataset.sequences.items)):,} interactions "
                f"(loaded in {prepared.load_seconds:.2f}s; checksum {dataset.checksum[:12]})"
            )
            log(f"  {hygiene_line(st)}")
        if warn is not None:
            for line in hygiene_warnings(dataset.stats):
                warn(f"{ds_spec.name}: {line}")
        for spec in cfg.models:
            cls, config = resolve_model_config(spec, prepared.train_stats)
            if getattr(cls, "needs_timestamps", False) and prepared.split.train.times is None:
                raise ConfigError(
                    f"model {spec.label!r} ({cls.name}) needs timestamps, and {ds_spec.name} has "
                    "none (a one-line-per-user file or synthetic data): drop it from --models, "
                    "or use an interactions file with a timestamp column"
                )
            resolved = config_to_dict(config)
            plan.configs[(ds_spec.name, spec.label)] = resolved
            fields = {
                "dataset_key": prepared.key,
                "data_format": PREPARED_FORMAT_VERSION,
                "split": cfg.split.name,
                "split_options": cfg.split.options(),
                "protocol": cfg.protocol,
                "exclude_seen": cfg.exclude_seen,
                "ranking": RANKING_RULE,
                "model_name": cls.name,
                "model_version": int(getattr(cls, "version", 1)),
                "config": resolved,
                "device_type": device.split(":")[0],
            }
            fields["control"] = None
            fields["trial"] = None  # a run cell, never a tuning trial (seqrec_bench.tune)
            assert set(fields) == set(IDENTITY_FIELDS)
            rows = [(spec.label, fields)]
            for control in cfg.controls:
                # the same model on data with one property destroyed: its own row, its own key
                label = control_label(spec.label, control)
                plan.configs[(ds_spec.name, label)] = resolved
                rows.append((label, {**fields, "control": control}))
            for label, row_fields in rows:
                for seed in cfg.seeds:
                    identity = CellIdentity(ds_spec.name, label, seed, dict(row_fields))
                    plan.tasks.append(
                        CellTask(
                            identity, metrics, device, threads, deterministic=cfg.deterministic
                        )
                    )
    return plan


def plan_status(plan: Plan, rd: ResultsDir) -> PlanStatus:
    """Which cells of ``plan`` are complete in ``rd``, which must run, and which are stale."""
    status = PlanStatus()
    if not rd.root.is_dir():
        status.todo = list(plan.tasks)
        return status
    for task in plan.tasks:
        found = rd.find(task.identity)
        if isinstance(found, StoredCell):
            status.complete.append((task, found))
        else:
            status.todo.append(task)
            if isinstance(found, Problem):
                status.torn.append((task, found))
    planned: dict[tuple[str, str], set[str]] = {
        (t.identity.dataset, t.identity.label): set() for t in plan.tasks
    }
    for t in plan.tasks:
        planned[(t.identity.dataset, t.identity.label)].add(t.identity.variant)
    cells, problems = rd.scan()
    status.problems = problems
    for cell in cells:
        variants = planned.get((cell.dataset, cell.label))
        if variants is not None and cell.identity.variant not in variants:
            status.stale.append(cell)
    return status
