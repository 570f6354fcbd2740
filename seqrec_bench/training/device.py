"""Choosing the torch device once per run."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn a device spec into a :class:`torch.device`.

    ``"auto"`` (or ``None``) picks CUDA when available, then Apple's MPS, then the CPU. Any
    other string is passed to :class:`torch.device`, after checking that the backend exists, so
    a run asking for ``"cuda"`` on a machine without it fails at the start with one clear line
    instead of deep inside a model.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if isinstance(spec, torch.device):
        device = spec
    else:
        text = "auto" if spec is None else str(spec).strip().lower()
        if text == "auto":
            if torch.cuda.is_available():
                return torch.device("cuda")
            if _mps_available():
                return torch.device("mps")
            return torch.device("cpu")
        try:
            device = torch.device(text)
        except RuntimeError as exc:
            raise ValueError(
                f"unknown device {spec!r} (try 'auto', 'cpu', 'cuda', 'cuda:1', 'mps')"
            ) from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {str(device)!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    if device.type == "mps" and not _mps_available():
        raise ValueError("device 'mps' requested but MPS is not available")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
