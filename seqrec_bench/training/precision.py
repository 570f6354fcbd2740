"""Mixed precision: which dtype a run's forward pass uses, and the pieces that go with it.

:class:`~seqrec_bench.training.TrainerConfig` has ``amp = "auto" | "off" | "bf16" | "fp16"``;
:func:`resolve_amp` turns it into a dtype (or ``None`` = full precision) for one device:

* ``auto``: bf16 on a CUDA device that supports it (Ampere and newer), otherwise off (older
  cards, the CPU, MPS). The CPU default is therefore full precision, as it always was.
* ``bf16`` / ``fp16``: that dtype on any device whose autocast supports it (the CPU has both,
  which is how the tests exercise the autocast plumbing without a GPU).
* ``off``: full precision.

fp16 has a narrow exponent range: per-logit gradients of a full softmax over 25,000 items are
around ``1 / 25,000 / positions`` and flush to zero in fp16, so fp16 always trains with a
:class:`torch.amp.GradScaler` (:func:`make_grad_scaler`); bf16 has fp32's range and needs none.

The helpers here also paper over API moves between torch releases: the device-typed
``torch.get_autocast_dtype(device_type)`` / ``torch.is_autocast_enabled(device_type)`` exist
from torch 2.4; on older releases (the package allows torch >= 2.1) the per-backend functions
they replaced are used.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import torch

__all__ = [
    "AMP_CHOICES",
    "resolve_amp",
    "autocast_context",
    "autocast_dtype",
    "autocast_disabled",
    "make_grad_scaler",
]

#: The values of ``TrainerConfig.amp``.
AMP_CHOICES = ("auto", "off", "bf16", "fp16")

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_amp(amp: str, device: str | torch.device) -> torch.dtype | None:
    """The autocast dtype of ``amp`` on ``device`` (``None`` = no autocast, full precision).

    Example:
        >>> resolve_amp("auto", "cpu") is None
        True
        >>> resolve_amp("bf16", "cpu")
        torch.bfloat16
    """
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {', '.join(AMP_CHOICES)}, not {amp!r}")
    device = torch.device(device)
    if amp == "off":
        return None
    if amp == "auto":
        # bf16 only where the hardware has it: pre-Ampere cards emulate it slowly (or not at all)
        if device.type == "cuda" and _cuda_bf16_supported(device):
            return torch.bfloat16
        return None
    if device.type not in ("cuda", "cpu"):
        # MPS/XPU autocast support differs by release; explicit requests there run in full
        # precision rather than failing deep inside a model
        return None
    return _DTYPES[amp]


def _cuda_bf16_supported(device: torch.device) -> bool:
    try:
        with torch.cuda.device(device):
            return bool(torch.cuda.is_bf16_supported())
    except (RuntimeError, AssertionError):
        return False


def autocast_context(
    device: str | torch.device, dtype: torch.dtype | None
) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A factory of fresh autocast contexts for ``dtype`` on ``device`` (no-ops for ``None``)."""
    device_type = torch.device(device).type
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device_type, dtype=dtype)


def autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype autocast is running for ``device_type`` now, or ``None`` when it is off.

    Works on torch 2.1-2.3 (per-backend functions) and 2.4+ (device-typed functions).
    """
    if _has_device_typed_autocast():
        if not torch.is_autocast_enabled(device_type):
            return None
        return torch.get_autocast_dtype(device_type)
    if device_type == "cuda":
        enabled = torch.is_autocast_enabled()  # torch < 2.4: the no-argument form is CUDA's
        return torch.get_autocast_gpu_dtype() if enabled else None
    if device_type == "cpu":
        enabled = torch.is_autocast_cpu_enabled()
        return torch.get_autocast_cpu_dtype() if enabled else None
    return None


@functools.cache
def _has_device_typed_autocast() -> bool:
    try:
        torch.is_autocast_enabled("cpu")
        torch.get_autocast_dtype("cpu")
    except (TypeError, AttributeError, RuntimeError):
        return False
    return True


def autocast_disabled(device_type: str) -> contextlib.AbstractContextManager[Any]:
    """A context in which autocast is off for ``device_type`` (e.g. to run a recurrence in fp32)."""
    return torch.autocast(device_type=device_type, enabled=False)


def make_grad_scaler(device: str | torch.device, dtype: torch.dtype | None) -> Any | None:
    """A :class:`torch.amp.GradScaler` for fp16 training on ``device``; ``None`` otherwise.

    bf16 and full precision need no loss scaling. The scaler reads one flag from the device per
    step (whether any gradient overflowed): the only host synchronisation fp16 adds.
    """
    if dtype is not torch.float16:
        return None
    device_type = torch.device(device).type
    amp_scaler = getattr(torch.amp, "GradScaler", None)
    if amp_scaler is not None:  # torch >= 2.3: one class for every device
        return amp_scaler(device_type)
    if device_type == "cuda":
        return torch.cuda.amp.GradScaler()
    raise ValueError("amp='fp16' off CUDA needs torch >= 2.3 (torch.amp.GradScaler)")
