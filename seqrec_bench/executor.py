"""Executors: where the cells of a plan run.

An executor takes the plan's tasks and prepared data sets and returns, for each cell, a
:class:`~seqrec_bench.cell.CellResult` or a :class:`~seqrec_bench.cell.CellFailure` through the
``on_done`` callback, as soon as the cell finishes. Workers never touch the results folder: the
driver writes every result through the store, so a killed driver loses only the cells that
were running, and a rerun resumes.

* :class:`InProcessExecutor` (``--jobs 1``, the default): cells one after another in this
  process.
* :class:`ProcessExecutor` (``--jobs N``): N spawned worker processes. Each receives the
  prepared data sets once, when it starts (not once per cell), runs its cells with a fixed
  number of torch threads, and, with several GPUs, is pinned to one of them.

For the same ``--threads``, a cell computes the same numbers on either executor: it runs
the same :func:`~seqrec_bench.cell.run_cell` with the same seed and thread count.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from seqrec_bench.cell import CellFailure, CellResult, CellTask, PreparedData, run_cell_safely

__all__ = [
    "Executor",
    "InProcessExecutor",
    "ProcessExecutor",
    "make_executor",
    "available_cores",
    "default_threads",
]

OnStart = Callable[[CellTask, str], None]
OnDone = Callable[[CellResult | CellFailure], None]


class Executor(Protocol):
    """Runs cells; reports each outcome through ``on_done`` in the order cells finish."""

    name: str

    def run(
        self,
        tasks: Sequence[CellTask],
        data: dict[str, PreparedData],
        on_done: OnDone,
        on_start: OnStart | None = None,
    ) -> None:
        """Run every task (``data`` maps a task's data set label to its prepared data)."""
        ...


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_threads(jobs: int) -> int:
    """Torch threads per cell when ``--threads`` is not given: the cores divided among the jobs."""
    return max(1, available_cores() // max(1, jobs))


class InProcessExecutor:
    """Cells one after another in the calling process.

    A :class:`KeyboardInterrupt` stops the run at once (completed cells are already stored).
    """

    name = "local"

    def run(
        self,
        tasks: Sequence[CellTask],
        data: dict[str, PreparedData],
        on_done: OnDone,
        on_start: OnStart | None = None,
    ) -> None:
        for task in tasks:
            if on_start is not None:
                on_start(task, task.device)
            on_done(run_cell_safely(data[task.identity.dataset], task))


# -- worker processes -------------------------------------------------------------------------
_WORKER: dict[str, object] = {}


def _watch_parent(parent: int) -> None:
    """Exit when the driver is gone (killed): a worker must not outlive its driver."""
    import time

    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(data: dict[str, PreparedData], threads: int, devices: object, parent: int) -> None:
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops us
    if os.environ.get("SEQBENCH_PROGRESS", "").strip().lower() not in ("0", "off", "quiet"):
        # live displays of several workers would garble stderr: one plain line per epoch each
        os.environ["SEQBENCH_PROGRESS"] = "lines"
    torch.set_num_threads(threads)
    _WORKER["data"] = data
    _WORKER["device"] = devices.get() if devices is not None else None  # type: ignore[attr-defined]
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _run_in_worker(task: CellTask) -> CellResult | CellFailure:
    data: dict[str, PreparedData] = _WORKER["data"]  # type: ignore[assignment]
    device = _WORKER.get("device")
    return run_cell_safely(
        data[task.identity.dataset], task, device if isinstance(device, str) else None
    )


class ProcessExecutor:
    """Cells in ``jobs`` spawned worker processes.

    Args:
        jobs: worker processes.
        threads: torch threads of each worker.
        gpus: CUDA devices to spread the workers over (worker ``i`` gets ``gpus[i % len]``);
            empty = every task keeps its own device.
    """

    name = "local"

    def __init__(self, jobs: int, threads: int, gpus: Sequence[str] = ()) -> None:
        self.jobs = jobs
        self.threads = threads
        self.gpus = list(gpus)

    def run(
        self,
        tasks: Sequence[CellTask],
        data: dict[str, PreparedData],
        on_done: OnDone,
        on_start: OnStart | None = None,
    ) -> None:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        if not tasks:
            return
        ctx = multiprocessing.get_context("spawn")  # fork + torch threads/CUDA is unsafe
        devices = None
        if self.gpus:
            devices = ctx.Queue()
            for i in range(self.jobs):
                devices.put(self.gpus[i % len(self.gpus)])
        needed = {t.identity.dataset for t in tasks}
        payload = {name: d for name, d in data.items() if name in needed}
        pool = ProcessPoolExecutor(
            max_workers=min(self.jobs, len(tasks)),
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(payload, self.threads, devices, os.getpid()),
        )
        try:
            pending = {}
            for task in tasks:
                pending[pool.submit(_run_in_worker, task)] = task
            # the pool starts tasks in submission order as workers free up: report the first
            # `jobs` as started now, and the next one each time one finishes
            order = list(pending.values())
            first = min(self.jobs, len(order))
            for i, task in enumerate(order[:first]):
                if on_start is not None:
                    on_start(task, self.gpus[i % len(self.gpus)] if self.gpus else task.device)
            next_start = first
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        outcome = CellFailure(
                            task.identity,
                            "WorkerDied",
                            "its worker process died (killed, or out of memory)",
                            False,
                        )
                    on_done(outcome)
                    if next_start < len(order) and on_start is not None:
                        nxt = order[next_start]
                        on_start(nxt, nxt.device)
                    next_start += 1
        except BaseException:
            # Ctrl-C or a failing callback: stop the workers now, do not wait for their cells
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def make_executor(jobs: int, threads: int, device: str) -> Executor:
    """The local executor for ``--jobs``: in-process for 1, worker processes otherwise.

    With ``device`` on CUDA and several GPUs visible, workers are spread one per GPU.
    """
    if jobs <= 1:
        return InProcessExecutor()
    gpus: list[str] = []
    if device == "cuda":
        import torch

        count = torch.cuda.device_count()
        if count > 1:
            gpus = [f"cuda:{i}" for i in range(count)]
    return ProcessExecutor(jobs, threads, gpus)
