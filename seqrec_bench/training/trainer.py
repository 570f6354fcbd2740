"""The training loop every torch model shares.

:func:`train` runs mini-batch optimisation with early stopping on a validation metric and puts
back the weights of the best epoch. A model (built-in or plugin) supplies three things: its
``torch.nn.Module``, a loss callable that turns one batch into a scalar tensor, and a batch
factory (usually :class:`~seqrec_bench.training.SequenceBatches`).
:class:`seqrec_bench.models.TorchSequenceModel` does this wiring (and chunked scoring) for a
sequence model; a complete next-item model on the loop itself::

    from dataclasses import dataclass

    import torch
    from seqrec_bench.models.base import Model
    from seqrec_bench.seeding import stream_seed
    from seqrec_bench.training import (
        SequenceBatches, TrainerConfig, full_softmax_loss, seeded, select_positions, train,
    )

    @dataclass(frozen=True)
    class BagConfig(TrainerConfig):      # trainer fields (lr, batch_size, patience, ...) included
        hidden: int = 64
        max_len: int = 50

    class BagNet(torch.nn.Module):       # running mean of the item embeddings seen so far
        def __init__(self, n_items, hidden):
            super().__init__()
            self.emb = torch.nn.Embedding(n_items + 1, hidden, padding_idx=0)

        def forward(self, items):        # (B, L) left-padded -> (B, L, hidden)
            seen = (items != 0).cumsum(1).clamp_min(1).unsqueeze(-1)
            return self.emb(items).cumsum(1) / seen

    class BagModel(Model[BagConfig]):
        name = "bag"
        description = "Mean of the embeddings of the items seen so far."
        config_cls = BagConfig

        def _fit(self, train_seqs, validator):
            cfg = self.config
            # deterministic init from the run's "init" stream, the caller's RNG untouched
            with seeded(stream_seed(self.seed, "init"), self.device):
                self.module = BagNet(self.n_items, cfg.hidden).to(self.device)
            batches = SequenceBatches(train_seqs, batch_size=cfg.batch_size,
                                      max_len=cfg.max_len + 1, device=self.device)

            def loss(batch):                       # batch.items: (B, W) left-padded
                inputs, targets = batch.items[:, :-1], batch.items[:, 1:]
                real = inputs != 0                 # logits only for real positions
                count = batch.n_tokens - batch.size
                hidden = select_positions(self.module(inputs), real, count)
                return full_softmax_loss(hidden, self.module.emb.weight[1:],
                                         select_positions(targets, real, count))

            train(self, self.module, loss, batches, config=cfg, validator=validator)

        def _score(self, batch):                   # eval mode and no_grad are already on
            items = batch.padded_tensor(self.config.max_len, device=self.device)
            return self.module(items)[:, -1] @ self.module.emb.weight[1:].T

What the loop guarantees: shuffling from a ``torch.Generator`` on the run's ``"shuffle"`` stream
and dropout from a forked global RNG seeded with its ``"dropout"`` stream
(:mod:`seqrec_bench.seeding`; the caller's RNG state is untouched and a fixed seed on the CPU
gives identical numbers); mixed precision from ``config.amp`` (bf16 autocast on CUDA cards that
have it by default, fp16 with a gradient scaler on request; :mod:`seqrec_bench.training.precision`);
no host synchronisation inside an epoch (beyond the overflow check of fp16's gradient scaler) (the loss is summed on the device and read once per epoch); a
:class:`TrainingError` naming the model and epoch when the loss stops being finite; one entry per
epoch in ``model.history`` and the kept epoch in ``model.best_epoch``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from seqrec_bench.errors import SeqbenchError
from seqrec_bench.seeding import stream_seed, torch_generator
from seqrec_bench.training.compile import CompiledForward
from seqrec_bench.training.config import TrainerConfig
from seqrec_bench.training.precision import autocast_context, make_grad_scaler, resolve_amp

if TYPE_CHECKING:
    from seqrec_bench.models.base import Model, Validator
    from seqrec_bench.training.batches import BatchFactory

__all__ = ["train", "TrainResult", "TrainingError", "seeded", "progress_enabled", "progress_mode"]

logger = logging.getLogger(__name__)


class TrainingError(SeqbenchError, RuntimeError):
    """Training cannot go on (non-finite loss, no batches, missing metric)."""


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes:
        best_epoch: the epoch (1-based) whose weights the module holds now.
        best_value: the monitored validation metric at ``best_epoch`` (``None`` without a
            validator).
        epochs: epochs run.
        stop_reason: ``"patience"``, ``"max_epochs"`` or ``"time_budget"``.
        seconds: wall time of the whole loop, evaluations included.
        history: the same per-epoch records appended to ``model.history``.
        compiled: ``None`` without ``config.compile``; else whether the training steps ran
            compiled to the end (``False``: it fell back to eager mode, see ``compile_error``).
        compile_error: why ``torch.compile`` was given up, when it was.
    """

    best_epoch: int
    best_value: float | None
    epochs: int
    stop_reason: str
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    compiled: bool | None = None
    compile_error: str | None = None


@contextlib.contextmanager
def seeded(seed: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Run a block with torch's global RNG seeded, restoring the caller's RNG state afterwards.

    Layers such as ``nn.Linear`` (initialisation) and ``nn.Dropout`` draw from the global RNG and
    take no generator argument. Forking it keeps a model deterministic for a fixed seed without
    the side effect of global seeding: code outside the block sees its own RNG state unchanged.

    Example:
        >>> with seeded(0):
        ...     a = torch.rand(2)
        >>> with seeded(0):
        ...     b = torch.rand(2)
        >>> bool((a == b).all())
        True
    """
    device = torch.device(device)
    kwargs: dict[str, Any] = {"devices": []}
    if device.type == "cuda":
        kwargs = {
            "devices": [device.index if device.index is not None else torch.cuda.current_device()]
        }
    elif device.type == "mps":
        kwargs = {"devices": [0], "device_type": "mps"}
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(torch.random.fork_rng(**kwargs))
        except (AttributeError, RuntimeError, TypeError):
            # a backend whose RNG state cannot be saved: fork the CPU generator only
            stack.enter_context(torch.random.fork_rng(devices=[]))
        torch.manual_seed(int(seed))
        yield


def progress_mode() -> str:
    """How training reports progress: ``"live"``, ``"lines"`` or ``"off"``.

    ``live`` is a rich display of epochs and batches (the default on a terminal); ``lines`` is one
    plain line per epoch on stderr (the default when stderr is not a terminal: a log under nohup,
    Slurm or CI still shows that a run is alive); ``off`` prints nothing. ``SEQBENCH_PROGRESS``
    chooses: ``1``/``live``, ``lines``, ``0``/``off`` (``seqbench run --quiet`` sets ``off``).
    """
    env = os.environ.get("SEQBENCH_PROGRESS", "").strip().lower()
    if env in ("0", "false", "no", "off", "quiet"):
        return "off"
    if env in ("1", "true", "yes", "on", "live"):
        return "live"
    if env == "lines":
        return "lines"
    try:
        return "live" if sys.stderr.isatty() else "lines"
    except (AttributeError, ValueError):
        return "lines"


def progress_enabled() -> bool:
    """Whether to draw the live progress display (see :func:`progress_mode`)."""
    return progress_mode() == "live"


def train(
    model: Model[Any],
    module: torch.nn.Module,
    loss_fn: Callable[[Any], torch.Tensor],
    batches: BatchFactory,
    *,
    config: TrainerConfig,
    validator: Validator | None = None,
    seed: int | None = None,
    device: str | torch.device | None = None,
    monitor: str = "NDCG@10",
    parameters: Any | None = None,
) -> TrainResult:
    """Optimise ``module`` with early stopping on ``validator`` and keep the best epoch.

    Args:
        model: the :class:`~seqrec_bench.models.base.Model` being fitted; ``validator`` scores
            it through ``model.score`` (which must read ``module``), and its ``history`` and
            ``best_epoch`` are filled in.
        module: the torch module to optimise (already on ``device``).
        loss_fn: maps one batch to a scalar loss tensor (mean over the batch's positions).
            Called in training mode, under autocast when ``config.amp`` resolves to a dtype on
            ``device`` (:func:`~seqrec_bench.training.precision.resolve_amp`).
        batches: called once per epoch with the run's shuffling generator; returns the epoch's
            batches (anything ``loss_fn`` understands). ``len(batches)`` feeds the progress bar.
        config: optimiser, batch and stopping settings (a model config subclassing
            :class:`TrainerConfig` works as is).
        validator: a :class:`~seqrec_bench.models.base.Validator` over the validation split
            (the harness passes an :class:`~seqrec_bench.evaluation.Evaluator`); it scores the
            model while ``fit`` runs, which :meth:`Model.fit` allows. A validator with an
            ``after_epoch(record)`` method gets each evaluated epoch's record (after it is in
            ``model.history``) and may raise to stop training (``seqbench tune``'s pruner). ``None`` trains for
            ``max_epochs`` (or the time budget) and keeps the last epoch.
        seed: the run's seed (default ``model.seed``); shuffling uses its ``"shuffle"`` stream
            and dropout (torch's global RNG, forked) its ``"dropout"`` stream
            (:mod:`seqrec_bench.seeding`).
        device: the training device (default ``model.device``).
        monitor: the validation metric to maximise.
        parameters: what the optimiser updates (default: ``module.parameters()``).

    Returns:
        A :class:`TrainResult`; ``module`` holds the best epoch's weights, in eval mode.

    Raises:
        TrainingError: the loss (or the validation scores) stopped being finite, the factory
            produced no batches, or ``monitor`` is not among the validator's metrics.
    """
    from seqrec_bench.evaluation.ranking import NonFiniteScoresError

    seed = model.seed if seed is None else int(seed)
    device = torch.device(model.device if device is None else device)
    name = getattr(model, "name", "") or type(model).__name__
    if validator is not None and monitor not in validator.metric_labels:
        raise TrainingError(
            f"{name}: early stopping monitors {monitor!r} but the validator computes "
            f"{', '.join(validator.metric_labels)}"
        )
    params = list(module.parameters() if parameters is None else parameters)
    optimizer = _make_optimizer(config, params, device)
    generator = torch_generator(seed, "shuffle")
    amp_dtype = resolve_amp(config.amp, device)
    autocast = autocast_context(device, amp_dtype)
    # fp16 gradients underflow without loss scaling; bf16 and fp32 need none
    scaler = make_grad_scaler(device, amp_dtype)
    compiled = CompiledForward(module, name) if config.compile else None
    try:
        steps_per_epoch: int | None = len(batches)  # type: ignore[arg-type]
    except TypeError:
        steps_per_epoch = None

    history: list[dict[str, float]] = []
    best_value: float | None = None
    best_epoch = 0
    best_state: dict[str, torch.Tensor] | None = None
    stop_reason = "max_epochs"
    start = time.perf_counter()
    last_epoch_seconds = 0.0
    progress = _Progress(name, config.max_epochs, steps_per_epoch, monitor, seed=seed)

    # dropout draws from the global RNG: fork it, seeded with the run's dropout stream
    with seeded(stream_seed(seed, "dropout"), device), progress:
        epoch = 0
        for epoch in range(1, config.max_epochs + 1):
            epoch_start = time.perf_counter()
            module.train()
            total = torch.zeros((), device=device)
            steps = 0
            progress.start_epoch(epoch)
            for batch in batches(generator):
                with autocast(), compiled.active() if compiled else contextlib.nullcontext():
                    if compiled is None:
                        loss = loss_fn(batch)
                    else:
                        loss = compiled.run(functools.partial(loss_fn, batch))
                optimizer.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                    if config.grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                    optimizer.step()
                else:
                    scaler.scale(loss).backward()
                    if config.grad_clip is not None:
                        scaler.unscale_(optimizer)  # clip the true gradients, not scaled ones
                        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                    scaler.step(optimizer)  # skips the step when a gradient overflowed
                    scaler.update()
                total += loss.detach().float()
                steps += 1
                progress.step()
            if steps == 0:
                raise TrainingError(
                    f"{name}: the batch factory produced no batches (epoch {epoch})"
                )
            epoch_loss = float(total) / steps  # the one host sync of the epoch
            if not math.isfinite(epoch_loss):
                raise TrainingError(
                    f"{name}: training loss became non-finite ({epoch_loss}) in epoch {epoch}; "
                    f"try a lower lr (now {config.lr:g}) or set grad_clip"
                )
            train_seconds = time.perf_counter() - epoch_start
            record: dict[str, float] = {
                "epoch": epoch,
                "loss": epoch_loss,
                "seconds": train_seconds,
            }

            elapsed = time.perf_counter() - start
            out_of_time = config.time_budget is not None and (
                elapsed + max(last_epoch_seconds, train_seconds) > config.time_budget
            )
            last = out_of_time or epoch == config.max_epochs
            evaluated = validator is not None and (epoch % config.eval_every == 0 or last)
            if evaluated:
                assert validator is not None
                module.eval()
                try:
                    result = validator.evaluate(model)
                except NonFiniteScoresError as exc:
                    raise TrainingError(
                        f"{name}: validation scores became non-finite after epoch {epoch} ({exc})"
                    ) from exc
                value = float(result.metrics[monitor])
                record.update({k: float(v) for k, v in result.metrics.items()})
                record["eval_seconds"] = result.seconds
                if best_value is None or value > best_value + config.min_delta:
                    best_value, best_epoch = value, epoch
                    best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            elif validator is None:
                best_epoch = epoch

            history.append(record)
            model.history.append(record)
            last_epoch_seconds = time.perf_counter() - epoch_start
            progress.end_epoch(record, best_value)
            logger.info(_describe(name, record, monitor))
            after_epoch = getattr(validator, "after_epoch", None) if evaluated else None
            if after_epoch is not None:
                # an optional hook (tuning's median pruner): it sees the epoch's record and may
                # raise to stop this fit; the record is already in model.history
                after_epoch(record)
            if out_of_time:
                stop_reason = "time_budget"
                break
            # patience counts epochs, checked when there is a fresh validation value
            if evaluated and epoch - best_epoch >= config.patience:
                stop_reason = "patience"
                break

    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    model.best_epoch = best_epoch
    model.stop_reason = stop_reason
    return TrainResult(
        best_epoch=best_epoch,
        best_value=best_value,
        epochs=epoch,
        stop_reason=stop_reason,
        seconds=time.perf_counter() - start,
        history=history,
        compiled=None if compiled is None else compiled.enabled,
        compile_error=None if compiled is None else compiled.failed,
    )


def _make_optimizer(
    config: TrainerConfig,
    params: list[torch.nn.Parameter],
    device: torch.device | None = None,
) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(
        params, lr=config.lr, weight_decay=config.weight_decay, **_optimizer_options(device, params)
    )


def _optimizer_options(
    device: torch.device | None, params: list[torch.nn.Parameter]
) -> dict[str, Any]:
    """``fused=True`` on CUDA: one kernel for all parameters instead of several per tensor.

    Only on CUDA (the CPU's fused Adam is a different code path with its own rounding, and the
    CPU numbers must stay what they were) and only when every parameter is a CUDA float tensor
    (the fused kernel's requirement).
    """
    if device is None or device.type != "cuda" or not params:
        return {}
    if all(p.is_cuda and p.is_floating_point() for p in params):
        return {"fused": True}
    return {}


def _describe(name: str, record: dict[str, float], monitor: str) -> str:
    text = f"{name} epoch {int(record['epoch'])}: loss {record['loss']:.4f}"
    if monitor in record:
        text += f", val {monitor} {record[monitor]:.4f}"
    return text + f" ({record['seconds']:.1f}s)"


class _Progress:
    """A rich display of epochs and batches, or one plain line per epoch (see :func:`progress_mode`)."""

    def __init__(
        self, name: str, max_epochs: int, steps: int | None, monitor: str, seed: int | None = None
    ) -> None:
        mode = progress_mode()
        self.enabled = mode == "live"
        self.lines = mode == "lines"
        self.name, self.max_epochs, self.steps, self.monitor = name, max_epochs, steps, monitor
        self.seed = seed
        self._progress: Any = None
        self._start = time.perf_counter()

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._epochs = self._progress.add_task(
                f"{self.name} epochs", total=self.max_epochs, info=""
            )
            self._batches = self._progress.add_task("batches", total=self.steps, info="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start_epoch(self, epoch: int) -> None:
        if self._progress is not None:
            self._progress.reset(self._batches, total=self.steps, description=f"epoch {epoch}")

    def step(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._batches)

    def end_epoch(self, record: dict[str, float], best: float | None) -> None:
        if self.lines:
            who = self.name if self.seed is None else f"{self.name} seed {self.seed}"
            line = _describe(who, record, self.monitor).replace(
                f"epoch {int(record['epoch'])}:", f"epoch {int(record['epoch'])}/{self.max_epochs}:"
            )
            if best is not None:
                line += f", best {best:.4f}"
            print(
                f"{line}, {time.perf_counter() - self._start:.0f}s elapsed",
                file=sys.stderr,
                flush=True,
            )
            return
        if self._progress is None:
            return
        info = f"loss {record['loss']:.4f}"
        if self.monitor in record:
            info += f"  val {self.monitor} {record[self.monitor]:.4f}"
        if best is not None:
            info += f"  best {best:.4f}"
        self._progress.update(self._epochs, advance=1, info=info)
        self._progress.console.print(_describe(self.name, record, self.monitor))
