"""The Ray executor: each cell of a plan is one Ray task, on one machine or a cluster.

``seqbench run ... --executor ray`` ships each prepared data set into Ray's object store once
(every task of it reads that one reference), runs :func:`~seqrec_bench.cell.run_cell_safely`
as a Ray core task with the resources asked for (``--cpus-per-cell``, ``--gpus-per-cell``, GPU
fractions allowed) and returns each result to the driver, which writes it through the store
exactly as with the local executor: resume, ``--dry-run``, ``table``, ``verify`` and ``plot``
behave identically, and no shared file system is needed.

A task whose worker died (node lost, OOM-killed, SIGKILL) is retried by Ray up to ``retries``
times; a cell that raises is not retried (it would raise again): it comes back as a
:class:`~seqrec_bench.cell.CellFailure` and the rest of the grid goes on.

Ray is an optional extra (``pip install 'seqrec-bench[ray]'``); nothing else in the package
imports it.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator, Sequence
from typing import Any

from seqrec_bench.cell import CellFailure, CellResult, CellTask, PreparedData, run_cell_safely
from seqrec_bench.errors import ConfigError, SeqbenchError

__all__ = ["RayExecutor", "MissingRay", "ray_version"]


class MissingRay(SeqbenchError, ImportError):
    """``--executor ray`` without Ray installed."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingRay(
            "--executor ray needs Ray: pip install 'seqrec-bench[ray]' (or pip install 'ray>=2.9'); "
            "or run with --executor local"
        ) from None
    return ray


def ray_version() -> str | None:
    """The installed Ray version, or ``None``."""
    try:
        import ray
    except ImportError:
        return None
    return str(ray.__version__)


def _cell_task(data: PreparedData, task: CellTask, gpus: float) -> CellResult | CellFailure:
    """The body of one Ray task (module-level, so workers import it by name)."""
    import ray

    # Ray exposes the GPUs it granted as CUDA_VISIBLE_DEVICES; a task without a GPU share sees
    # none, so it runs on the CPU whatever device the plan named
    device = "cuda" if gpus > 0 else ("cpu" if task.device.startswith("cuda") else task.device)
    outcome = run_cell_safely(data, task, device)
    where = {
        "node": platform.node(),
        "ray_node_id": ray.get_runtime_context().get_node_id(),
        "pid": os.getpid(),
        "device": device,
        "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
    }
    if isinstance(outcome, CellResult):
        outcome.record["executor"] = {"name": "ray", **where}
    return outcome


class RayExecutor:
    """Cells as Ray tasks.

    Args:
        address: ``None`` or ``""`` starts a local cluster for this run (and stops it at the
            end); ``"auto"`` joins the cluster of this machine; ``"ray://host:port"`` a remote
            one.
        cpus_per_cell: CPUs Ray reserves for each cell.
        gpus_per_cell: GPUs (fractions allowed, e.g. 0.25) for each cell.
        max_concurrent: at most this many cells submitted at once (``None`` = as many as the
            cluster's resources allow; Ray queues the rest).
        retries: how often a cell whose worker died is retried.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus_per_cell: float = 1.0,
        gpus_per_cell: float = 0.0,
        max_concurrent: int | None = None,
        retries: int = 2,
    ) -> None:
        if cpus_per_cell <= 0:
            raise ConfigError(f"--cpus-per-cell must be > 0, not {cpus_per_cell}")
        if gpus_per_cell < 0:
            raise ConfigError(f"--gpus-per-cell must be >= 0, not {gpus_per_cell}")
        if max_concurrent is not None and max_concurrent < 1:
            raise ConfigError(f"--max-concurrent must be >= 1, not {max_concurrent}")
        if retries < 0:
            raise ConfigError(f"--retries must be >= 0, not {retries}")
        self.address = address or None
        self.cpus_per_cell = cpus_per_cell
        self.gpus_per_cell = gpus_per_cell
        self.max_concurrent = max_concurrent
        self.retries = retries
        self.cluster: dict[str, Any] = {}

    def run(
        self,
        tasks: Sequence[CellTask],
        data: dict[str, PreparedData],
        on_done: Any,
        on_start: Any = None,
    ) -> None:
        ray = _ray()
        if not tasks:
            return
        started_here = not ray.is_initialized()
        if started_here:
            self._init(ray)
        try:
            self.cluster = {
                "ray": str(ray.__version__),
                "address": self.address or "local",
                "resources": {k: float(v) for k, v in ray.cluster_resources().items()},
                "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
                "cpus_per_cell": self.cpus_per_cell,
                "gpus_per_cell": self.gpus_per_cell,
                "max_concurrent": self.max_concurrent,
                "retries": self.retries,
            }
            self._run(ray, tasks, data, on_done, on_start)
        finally:
            if started_here:
                ray.shutdown()

    def _init(self, ray: Any) -> None:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
        if self.address is None:
            from seqrec_bench.executor import available_cores

            kwargs["num_cpus"] = available_cores()
        try:
            ray.init(address=self.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"--ray-address {self.address or '(local)'}: cannot start or join a Ray "
                f"cluster ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from None

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Keep one Ray session across several :meth:`run` calls (``seqbench tune`` runs a
        batch of trials per call; starting a local cluster for each would cost seconds)."""
        ray = _ray()
        if ray.is_initialized():
            yield
            return
        self._init(ray)
        try:
            yield
        finally:
            ray.shutdown()

    def _slots(self, ray: Any, n_tasks: int) -> int:
        """Cells the cluster can run at once with the requested resources (at least 1).

        Submitting only that many keeps "running" meaning running (Ray would queue the rest
        anyway), so the progress display and its estimate are honest.
        """
        resources = ray.cluster_resources()
        slots = int(float(resources.get("CPU", 1.0)) // self.cpus_per_cell)
        if self.gpus_per_cell > 0:
            slots = min(slots, int(float(resources.get("GPU", 0.0)) // self.gpus_per_cell))
        return max(1, min(slots, n_tasks))

    def _run(
        self,
        ray: Any,
        tasks: Sequence[CellTask],
        data: dict[str, PreparedData],
        on_done: Any,
        on_start: Any,
    ) -> None:
        from ray.exceptions import RayError

        remote = ray.remote(_cell_task).options(
            num_cpus=self.cpus_per_cell,
            num_gpus=self.gpus_per_cell,
            max_retries=self.retries,
            retry_exceptions=False,  # a raising cell is reported, not retried: it would raise again
        )
        # each data set goes into the object store once; every task of it gets the reference
        needed = {t.identity.dataset for t in tasks}
        refs = {name: ray.put(data[name]) for name in needed}
        queue = list(tasks)
        pending: dict[Any, CellTask] = {}
        limit = self.max_concurrent or self._slots(ray, len(queue))
        try:
            while queue or pending:
                while queue and len(pending) < limit:
                    task = queue.pop(0)
                    ref = remote.remote(refs[task.identity.dataset], task, self.gpus_per_cell)
                    pending[ref] = task
                    if on_start is not None:
                        on_start(task, "ray")
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    task = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except RayError as exc:  # the worker died more often than retries allow
                        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                        outcome = CellFailure(
                            task.identity,
                            type(exc).__name__,
                            f"its Ray worker died {self.retries + 1} time(s) ({text})",
                            False,
                        )
                    on_done(outcome)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
