"""A cell: one (data set, model config, seed) under one protocol — the unit of work.

:func:`run_cell` fits one model on the training split, selects on validation, ranks the test
targets and returns a :class:`CellResult`. It does no I/O: its inputs and outputs are plain,
picklable objects, which is exactly what an executor ships to a worker process (or a cluster
node) and what the driver hands to the store.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from seqrec_bench.data.split import LeaveOneOutSplit
from seqrec_bench.data.temporal import GlobalTemporalSplit
from seqrec_bench.errors import SeqbenchError
from seqrec_bench.store import CellIdentity

__all__ = ["PreparedData", "CellTask", "CellResult", "CellFailure", "run_cell", "run_cell_safely"]


@dataclass(frozen=True)
class PreparedData:
    """A loaded data set as every cell of it needs it (shipped once per worker).

    Attributes:
        name: the data set's label in tables.
        key: identifies the data and its preprocessing (goes into every cell's key).
        split: the leave-one-out or the global temporal split.
        train_stats: statistics of the training split; models choose their data-set-family
            defaults from these (never from sequences that include held-out items).
        negatives: per seed, the sampled-protocol negatives ``(validation, test)``; empty for
            full ranking. Every model of a seed is ranked against the same items.
        load_seconds: how long loading and preprocessing took.
    """

    name: str
    key: str
    split: LeaveOneOutSplit | GlobalTemporalSplit
    train_stats: dict[str, Any]
    negatives: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    load_seconds: float = 0.0


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run one cell, besides the data.

    Attributes:
        identity: the cell's identity (data set, label, seed, model name/version, resolved
            config, protocol, ...).
        metrics: every metric label stored for validation and test.
        device: the device to run on (``cpu``, ``cuda``, ``cuda:1``, ``mps``); an executor may
            pin a worker to one GPU instead.
        threads: torch CPU threads for the cell (``None`` = leave torch's setting).
        pruning: for a tuning trial only, the median-pruning rule the driver computed from the
            finished trials (:func:`seqrec_bench.tune.run_trial`); ``None`` = no pruning.
        deterministic: run with torch's deterministic algorithms
            (:func:`~seqrec_bench.training.set_deterministic`), switched on in the cell's process
            before the model is built.
    """

    identity: CellIdentity
    metrics: tuple[str, ...]
    device: str
    threads: int | None = None
    pruning: dict[str, Any] | None = None
    deterministic: bool = False


@dataclass
class CellResult:
    """What a finished cell returns to the driver: its ``cell.json`` record and its ranks.

    ``ranks`` has one entry per test (input, target) pair; ``owner`` (gts) names the user row of
    each pair (a user owns several under ``target="all"``), ``repeat`` flags the pairs whose
    target repeats an input item.
    """

    identity: CellIdentity
    record: dict[str, Any]
    ranks: np.ndarray
    repeat: np.ndarray | None = None
    owner: np.ndarray | None = None


@dataclass
class CellFailure:
    """A cell that raised: which one, what, and whether it is the user's to fix."""

    identity: CellIdentity
    error: str
    message: str
    user_error: bool
    traceback: str = ""

    def describe(self) -> str:
        kind = self.error if self.user_error else f"internal error: {self.error}"
        return f"{self.identity.describe()}: {kind}: {self.message}"


def _time_to_best(history: list[dict[str, float]], best_epoch: int | None) -> float | None:
    if best_epoch is None or not history:
        return None
    total = 0.0
    for row in history:
        total += float(row.get("seconds", 0.0))
        if row.get("epoch") == best_epoch:
            return total
    return None


def _cell_environment(device: str, threads: int) -> dict[str, Any]:
    import platform

    import numpy
    import torch

    import seqrec_bench
    from seqrec_bench.environment import git_info

    env: dict[str, Any] = {
        "seqrec_bench": seqrec_bench.__version__,
        "git": dict(git_info()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "node": platform.node(),
        "device": device,
        "threads": threads,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }
    if device.startswith("cuda"):
        env["device_name"] = torch.cuda.get_device_name(torch.device(device))
    return env


@contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """torch's CPU threads set to ``threads`` for the block (``None``: left as they are), then
    restored; yields the number in effect (recorded in the cell)."""
    import torch

    previous = torch.get_num_threads()
    wanted = threads or previous
    if wanted != previous:
        torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        if wanted != previous:
            torch.set_num_threads(previous)


def run_cell(data: PreparedData, task: CellTask, device: str | None = None) -> CellResult:
    """Fit, validate and test one cell; no I/O.

    Args:
        data: the prepared data set of the cell.
        task: the cell to run.
        device: overrides ``task.device`` (an executor pinning a worker to one GPU).

    Returns:
        The :class:`CellResult` (record + per-user test ranks).
    """
    import torch

    ident = task.identity
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    if task.deterministic:
        from seqrec_bench.training.device import set_deterministic

        set_deterministic(True)  # before the model (and any CUDA product) exists
    try:
        if ident.fields.get("trial") is not None:
            # a tuning trial fits and validates only: the test targets are never read
            from seqrec_bench.tune import run_trial

            return run_trial(data, task, device)
        return _run_cell(data, task, device)
    finally:
        if task.deterministic and not previous_deterministic:
            # an in-process cell leaves the driver's settings as it found them
            from seqrec_bench.training.device import set_deterministic

            set_deterministic(False)


def _run_cell(data: PreparedData, task: CellTask, device: str | None) -> CellResult:

    from seqrec_bench.environment import PeakRSS, gpu_peak_mb, reset_gpu_peak
    from seqrec_bench.evaluation import Evaluator
    from seqrec_bench.evaluation.ranking import seen_targets
    from seqrec_bench.models.base import config_from_dict, config_to_dict
    from seqrec_bench.registry import get_model_class

    ident = task.identity
    device = device or task.device
    split = data.split
    with torch_threads(task.threads) as threads:
        cls = get_model_class(ident.fields["model_name"])
        config = config_from_dict(cls.config_cls, dict(ident.fields["config"]))
        valid_negs, test_negs = data.negatives.get(ident.seed, (None, None))
        gts = isinstance(split, GlobalTemporalSplit)
        train, valid_inputs, test_inputs = split.train, split.valid_inputs, split.test_inputs
        if ident.fields.get("control") == "shuffle":
            # each user's training and input order shuffled, seeded; the held-out targets stay
            # exactly where they were. Under leave-one-out the validation input is the training
            # sequence itself, so it is shuffled with it.
            from seqrec_bench.data.controls import shuffle_within_users

            train = shuffle_within_users(split.train, ident.seed, key=1)
            test_inputs = shuffle_within_users(split.test_inputs, ident.seed, key=2)
            valid_inputs = (
                shuffle_within_users(split.valid_inputs, ident.seed, key=3) if gts else train
            )
        valid_owner = split.valid_owner if isinstance(split, GlobalTemporalSplit) else None
        test_owner = split.test_owner if isinstance(split, GlobalTemporalSplit) else None
        exclude_seen = bool(ident.fields["exclude_seen"])
        validator = Evaluator(
            valid_inputs,
            split.valid_targets,
            metrics=list(task.metrics),
            exclude_seen=exclude_seen,
            negatives=valid_negs,
            owner=valid_owner,
        )
        model = cls(config)
        reset_gpu_peak(device)
        with PeakRSS() as peak_rss:
            t_fit = time.perf_counter()
            model.fit(train, seed=ident.seed, device=device, validator=validator)
            fit_seconds = time.perf_counter() - t_fit
            valid_result = validator.evaluate(model)
            tester = Evaluator(
                test_inputs,
                split.test_targets(),
                metrics=list(task.metrics),
                exclude_seen=exclude_seen,
                negatives=test_negs,
                owner=test_owner,
            )
            test_result = tester.evaluate(model)
        record: dict[str, Any] = {
            "dataset": ident.dataset,
            "model": ident.label,
            "seed": ident.seed,
            "variant": ident.variant,
            "run_key": ident.run_key,
            "config_hash": ident.model_config_hash,
            **ident.fields,
            # what the model ended with (e.g. markov's selected back-off); the requested config
            # is the cell's identity
            "config": config_to_dict(model.fitted_config()),
            "requested_config": ident.fields["config"],
            "selection": model.selection,
            "device": device,
            "threads": threads,
            "users": int(len(test_result.ranks))
            if test_owner is None
            else int(len(np.unique(test_owner))),
            "test_targets": int(len(test_result.ranks)),
            "validation": valid_result.metrics,
            "test": test_result.metrics,
            "history": model.history,
            "best_epoch": model.best_epoch,
            "stop_reason": model.stop_reason,
            "times": {
                "fit_seconds": fit_seconds,
                "best_epoch_seconds": _time_to_best(model.history, model.best_epoch),
                "test_eval_seconds": test_result.seconds,
                "data_seconds": data.load_seconds,
            },
            "memory": {"peak_rss_mb": peak_rss.mb, "peak_gpu_mb": gpu_peak_mb(device)},
            "parameters": model.n_parameters(),
            "environment": _cell_environment(device, threads),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        repeat = seen_targets(split.test_targets(), split.test_inputs)
        record["repeat_targets"] = int(repeat.sum())
        return CellResult(ident, record, test_result.ranks, repeat, test_owner)


def run_cell_safely(
    data: PreparedData, task: CellTask, device: str | None = None
) -> CellResult | CellFailure:
    """:func:`run_cell`, with an exception turned into a :class:`CellFailure` (for workers)."""
    try:
        return run_cell(data, task, device)
    except Exception as exc:  # noqa: BLE001 - reported to the driver, which decides
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return CellFailure(
            task.identity,
            type(exc).__name__,
            message,
            isinstance(exc, SeqbenchError),
            traceback.format_exc(),
        )
