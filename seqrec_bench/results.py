"""Results on disk: one folder per run, one sub-folder per (dataset, model, seed) cell.

Layout::

    RUN_DIR/
      manifest.json                      what ran: command, resolved settings, versions, device
      datasets/<dataset>.json            checksum, options, statistics, split sizes
      cells/<dataset>/<model>/seed-<s>/
          cell.json                      resolved config + hash, validation curve, metrics, times
          ranks.npz                      per-user test ranks (every metric/test is recomputed from these)
      summary.json, table.md, table.tex, table.csv, table.json

Every file is written atomically (temporary file + ``os.replace``), and a cell counts as
complete only once its ``cell.json`` exists, which is written last; so an interrupted run leaves
no half-written cell and the next run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqrec_bench.data.cache import atomic_path

__all__ = [
    "atomic_write_text",
    "atomic_write_json",
    "config_hash",
    "CellKey",
    "ResultsDir",
    "ResultsError",
]


class ResultsError(ValueError):
    """A results folder that is missing, empty or inconsistent (one-line message)."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Atomic text write (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(data: Any) -> str:
    """Stable, human-readable JSON (sorted keys are avoided so tables keep their order)."""
    return json.dumps(data, indent=2, default=_json_default) + "\n"


def atomic_write_json(path: Path, data: Any) -> None:
    """Atomic JSON write."""
    atomic_write_text(path, to_json(data))


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def config_hash(data: Any) -> str:
    """Short stable hash of a JSON-able object (resolved configs, run keys)."""
    blob = json.dumps(data, sort_keys=True, default=_json_default)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class CellKey:
    """One (dataset, model, seed) cell of a run."""

    dataset: str
    model: str
    seed: int

    @classmethod
    def from_record(cls, record: dict) -> CellKey:
        """The key of a stored ``cell.json`` record."""
        return cls(record["dataset"], record["model"], int(record["seed"]))

    def relpath(self) -> Path:
        return Path("cells") / _safe(self.dataset) / _safe(self.model) / f"seed-{self.seed}"


def _safe(name: str) -> str:
    """A file-system safe folder name for a dataset/model label."""
    keep = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)
    return keep.strip(".") or "_"


class ResultsDir:
    """Reads and writes one run folder.

    Example:
        >>> rd = ResultsDir(tmp_path)  # doctest: +SKIP
        >>> rd.is_complete(CellKey("synthetic", "pop", 0), expected_hash)  # doctest: +SKIP
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- cells --------------------------------------------------------------------------------
    def cell_dir(self, key: CellKey) -> Path:
        return self.root / key.relpath()

    def read_cell(self, key: CellKey) -> dict | None:
        """The cell's record, or ``None`` if the cell is not complete."""
        path = self.cell_dir(key) / "cell.json"
        if not path.exists():
            return None
        return read_json(path)

    def is_complete(self, key: CellKey, run_hash: str) -> bool:
        """True when the cell exists *and* was produced by the same resolved settings."""
        cell = self.read_cell(key)
        return (
            cell is not None
            and cell.get("run_hash") == run_hash
            and (self.cell_dir(key) / "ranks.npz").exists()
        )

    def write_cell(self, key: CellKey, record: dict, ranks: np.ndarray) -> None:
        """Write ranks first and the record last: a cell without ``cell.json`` is incomplete."""
        d = self.cell_dir(key)
        d.mkdir(parents=True, exist_ok=True)
        (d / "cell.json").unlink(missing_ok=True)  # invalidate first when replacing a stale cell
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, ranks=np.asarray(ranks, dtype=np.int32))
        atomic_write_bytes(d / "ranks.npz", buf.getvalue())
        atomic_write_json(d / "cell.json", record)

    def read_ranks(self, key: CellKey) -> np.ndarray:
        with np.load(self.cell_dir(key) / "ranks.npz") as data:
            return data["ranks"].astype(np.int64)

    def iter_cells(self) -> Iterator[tuple[CellKey, dict]]:
        """Every complete cell, in a deterministic order (dataset, model, seed as recorded)."""
        base = self.root / "cells"
        if not base.exists():
            return
        for path in sorted(base.glob("*/*/seed-*/cell.json")):
            rec = read_json(path)
            yield CellKey.from_record(rec), rec

    # -- run-level files ----------------------------------------------------------------------
    def write_dataset(self, name: str, info: dict) -> None:
        atomic_write_json(self.root / "datasets" / f"{_safe(name)}.json", info)

    def read_datasets(self) -> dict[str, dict]:
        out = {}
        for path in sorted((self.root / "datasets").glob("*.json")):
            info = read_json(path)
            out[info.get("name", path.stem)] = info
        return out

    def write_manifest(self, manifest: dict) -> None:
        atomic_write_json(self.root / "manifest.json", manifest)

    def read_manifest(self) -> dict:
        path = self.root / "manifest.json"
        return read_json(path) if path.exists() else {}

    def check_exists(self) -> None:
        """Raise :class:`ResultsError` unless this looks like a run folder with results."""
        if not self.root.is_dir():
            raise ResultsError(f"results folder {self.root} does not exist")
        if not any(True for _ in self.iter_cells()):
            raise ResultsError(
                f"{self.root} holds no completed runs (expected cells/<dataset>/<model>/seed-*/cell.json); "
                "pass the folder that `seqbench run` printed"
            )
