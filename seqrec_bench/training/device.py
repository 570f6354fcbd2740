"""Choosing the torch device once per run, and making a run on it deterministic."""

from __future__ import annotations

import os
from typing import Any

import torch

__all__ = ["resolve_device", "set_deterministic", "determinism_info", "CUBLAS_WORKSPACE_CONFIG"]


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


#: cuBLAS needs a fixed workspace to give the same results run to run (NVIDIA's cuBLAS docs,
#: "Results reproducibility"); ``:4096:8`` is the setting torch's documentation names.
CUBLAS_WORKSPACE_CONFIG = ":4096:8"


def set_deterministic(enabled: bool) -> dict[str, Any]:
    """Switch torch's deterministic algorithms (and cuBLAS's fixed workspace) on or off.

    On: ``torch.use_deterministic_algorithms(True)``, cuDNN's deterministic mode with its
    autotuner off, and ``CUBLAS_WORKSPACE_CONFIG`` set (unless already set) so that two CUDA
    runs of the same seed compute the same numbers. The environment variable is read when
    cuBLAS starts, so call this before the first CUDA matrix product of the process (the
    harness calls it in each cell's process before the model is built). An operation with no
    deterministic implementation then raises instead of running nondeterministically.

    Costs: nothing on the CPU (its kernels are deterministic already); on CUDA, atomics-based
    kernels (embedding and index backward passes, scatter-adds) are replaced by sorting ones
    and cuDNN's autotuner is off, typically a few to ~20% of training time.

    Off: restores torch's defaults (cuDNN's ``benchmark`` is left as it was).

    Returns:
        What was applied, for the run's records: ``deterministic_algorithms`` and
        ``cublas_workspace_config`` (the variable's value, or ``None``).

    Example:
        >>> set_deterministic(False)["deterministic_algorithms"]
        False
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
    return determinism_info()


def determinism_info() -> dict[str, Any]:
    """The determinism settings in force in this process (recorded in cells and manifests)."""
    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }
