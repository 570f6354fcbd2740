"""The optimisation settings every torch model shares.

Models embed these fields by subclassing :class:`TrainerConfig` with their own frozen
dataclass, so one flat config holds both the architecture and the training loop settings and
``--set transformer.lr=3e-4`` works like any other key::

    @dataclass(frozen=True)
    class MyConfig(TrainerConfig):
        hidden: int = 64
        lr: float = 3e-3  # a model may override a trainer default

``TrainerConfig.trainer_fields(config)`` pulls the shared part back out when a model needs it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

__all__ = ["TrainerConfig"]


@dataclass(frozen=True)
class TrainerConfig:
    """Optimiser, batching and early-stopping settings of :func:`~seqrec_bench.training.train`.

    Attributes:
        optimizer: ``"adam"`` (L2 penalty added to the gradient) or ``"adamw"`` (decoupled
            weight decay).
        lr: learning rate.
        weight_decay: L2 penalty (adam) or decoupled decay (adamw); 0 disables it.
        grad_clip: clip the global gradient norm to this value; ``None`` disables clipping.
        batch_size: sequences (users) per optimisation step.
        max_epochs: upper bound on the number of passes over the training users.
        patience: stop when the validation metric has not improved for this many epochs.
        eval_every: evaluate on the validation split every this many epochs (the final epoch is
            always evaluated).
        time_budget: stop training after this many seconds (checked between epochs: an epoch that
            would end past the budget is not started); ``None`` = no limit.
        min_delta: an evaluation counts as an improvement only when it beats the best value so
            far by more than this.
        amp: mixed precision of the forward pass: ``"auto"`` (bf16 on CUDA cards that support
            it, else full precision; full precision on the CPU), ``"off"``, ``"bf16"`` or
            ``"fp16"`` (with a gradient scaler). See :mod:`seqrec_bench.training.precision`.
        compile: run the training steps through ``torch.compile`` (static shapes, batch widths
            rounded up to a multiple of 64), falling back to eager mode with a warning where
            it cannot compile; scoring stays eager. See :mod:`seqrec_bench.training.compile`.
    """

    #: Fields added after cells were first stored, with the value that leaves them out of a
    #: config's stored form (and so of a cell's identity): turning them on re-keys a cell,
    #: adding them did not.
    identity_defaults: ClassVar[dict[str, Any]] = {"compile": False}

    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = None
    batch_size: int = 128
    max_epochs: int = 100
    patience: int = 10
    eval_every: int = 1
    time_budget: float | None = None
    min_delta: float = 0.0
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be 'adam' or 'adamw', not {self.optimizer!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, not {self.lr}")
        if self.weight_decay < 0:
            raise ValueError("weight_decay must be >= 0")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError("grad_clip must be > 0 (or None to disable clipping)")
        for name in ("batch_size", "max_epochs", "patience", "eval_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ValueError("time_budget must be > 0 seconds (or None for no limit)")
        if self.min_delta < 0:
            raise ValueError("min_delta must be >= 0")
        if self.amp not in ("auto", "off", "bf16", "fp16"):
            # amp was a bool before: say what the old values mean now
            raise ValueError(
                f"amp must be 'auto', 'off', 'bf16' or 'fp16', not {self.amp!r} "
                "(the former true is 'auto', false is 'off')"
            )

        if not isinstance(self.compile, bool):
            raise ValueError(f"compile must be true or false, not {self.compile!r}")

    @classmethod
    def trainer_fields(cls, config: Any) -> TrainerConfig:
        """The :class:`TrainerConfig` part of a model config that subclasses it."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in dataclasses.asdict(config).items() if k in names})
