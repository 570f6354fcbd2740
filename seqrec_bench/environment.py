"""Where a cell ran: library versions, git commit, device, threads, and peak memory.

The one home of environment capture: the manifest records it per command and every cell
records it per cell (a folder's cells can come from different commits and machines, and the
provenance line of a table lists them all).
"""

from __future__ import annotations

import functools
import os
import platform
import resource
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["PeakRSS", "environment_info", "git_info", "reset_gpu_peak", "gpu_peak_mb"]


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


@functools.cache
def git_info() -> dict[str, Any]:
    """The commit this package was imported from, and whether its tracked files were modified."""
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


def environment_info(device: str, threads: int | None = None) -> dict[str, Any]:
    """Library versions, device and determinism flags (PROTOCOL §6; the run manifest)."""
    import importlib.metadata as md

    import numpy
    import pandas
    import scipy
    import torch

    import seqrec_bench

    info: dict[str, Any] = {
        "seqrec_bench": seqrec_bench.__version__,
        "git": dict(git_info()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scipy": scipy.__version__,
        "device": device,
        "device_name": platform.processor() or platform.machine(),
        "cpu_threads": threads if threads is not None else torch.get_num_threads(),
        "node": platform.node(),
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


def reset_gpu_peak(device: str) -> None:
    """Start a fresh peak-memory count on a CUDA device (a no-op elsewhere)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(torch.device(device))


def gpu_peak_mb(device: str) -> float | None:
    """Peak allocated CUDA memory since :func:`reset_gpu_peak`, in MB (``None`` off CUDA)."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated(torch.device(device)) / 2**20
    return None
