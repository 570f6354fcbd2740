"""``torch.compile`` for the training steps, with a clean fall-back to eager mode.

``TrainerConfig(compile=True)`` compiles the module's ``forward`` for the training steps only:
scoring runs eagerly, because its chunks (users of similar lengths, as wide as their longest
one) take many widths and every new width would be a new compilation. For the same reason the
default batch factory rounds the training batch width up to a multiple of
:data:`COMPILE_WIDTH_MULTIPLE` under ``compile``: a handful of widths, each compiled once
(``dynamic=False``: static shapes give inductor its best kernels). Left padding is masked, so
the extra columns change no result beyond rounding.

Where compilation is not available (no C++ compiler for inductor on the CPU, an unsupported
Python, an operator dynamo cannot trace) the first compiled step fails before anything was
updated; :class:`CompiledForward` then restores the eager ``forward``, warns once, and runs
that step again eagerly, so a run never fails *because* it asked for ``compile``. A genuine
error of the model fails the eager rerun too and is raised as usual.

Numbers: compiled kernels round differently, and inductor draws dropout masks from its own
generator (seeded from torch's global one, so a compiled run is reproducible, but its masks
are not the eager run's): ``compile`` is part of a cell's identity.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = ["COMPILE_WIDTH_MULTIPLE", "CompiledForward", "is_compiling"]

logger = logging.getLogger(__name__)

#: Training batch widths are rounded up to a multiple of this under ``compile`` (at most the
#: full window): at ``max_len`` 200 that is 4 widths instead of up to 200.
COMPILE_WIDTH_MULTIPLE = 64


def is_compiling() -> bool:
    """Whether the caller is being traced by dynamo (``torch.compiler.is_compiling``)."""
    probe = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    if probe is None:  # torch < 2.3
        probe = getattr(getattr(torch, "_dynamo", None), "is_compiling", None)
    return bool(probe()) if probe is not None else False


class CompiledForward:
    """Swaps ``module.forward`` for a compiled one while :meth:`active`.

    Args:
        module: the network; its class's ``forward`` is what gets compiled.
        name: the model's name, for the warning of a fall-back.

    Example:
        >>> net = torch.nn.Linear(2, 1)
        >>> compiled = CompiledForward(net, "demo")
        >>> with compiled.active():
        ...     loss = compiled.run(lambda: net(torch.ones(3, 2)).sum())  # doctest: +SKIP
    """

    def __init__(self, module: torch.nn.Module, name: str) -> None:
        self.module = module
        self.name = name
        self.failed: str | None = None
        self._forward: Callable[..., Any] | None = None
        try:
            # bound to this instance: the class's forward stays the eager one for scoring
            self._forward = torch.compile(module.forward, dynamic=False)
        except Exception as exc:  # e.g. "Dynamo is not supported on Python 3.x" on old torch
            self._fall_back(exc)

    @property
    def enabled(self) -> bool:
        """Whether the compiled forward is (still) in use."""
        return self._forward is not None

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Calls of ``module(...)`` inside run the compiled forward."""
        if self._forward is None:
            yield
            return
        self.module.forward = self._forward  # type: ignore[method-assign]
        try:
            yield
        finally:
            self.module.__dict__.pop("forward", None)

    def run(self, step: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``step()`` (a forward pass and loss); on a compilation failure, eagerly again."""
        if self._forward is None:
            return step()
        try:
            return step()
        except Exception as exc:
            self.module.__dict__.pop("forward", None)
            self._fall_back(exc)
            return step()

    def _fall_back(self, exc: Exception) -> None:
        self._forward = None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        self.failed = f"{type(exc).__name__}: {first[:300]}"
        logger.debug("torch.compile failed for %s", self.name, exc_info=exc)
        warnings.warn(
            f"{self.name}: torch.compile is not available here ({self.failed}); training "
            "continues without compile",
            RuntimeWarning,
            stacklevel=3,
        )
