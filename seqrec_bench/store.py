"""The results store: the only code that reads or writes a results folder.

Layout::

    RUN_DIR/
      .lock                                  held (flock) by the one command writing the folder
      manifest.json                          the last command: settings, plan, environment
      tuning.json                            a tuning folder's study record (seqbench tune)
      datasets/<dataset>.json                checksum, options, statistics, split sizes
      cells/<dataset>/<label>/<variant>/seed-<s>/
          cell.json                          identity (resolved config, protocol, versions), the
                                             validation curve, metrics, times, environment
          ranks.npz                          per-user test ranks (every metric/test comes from these;
                                             a tuning trial's cell holds validation ranks)
      summary.json, table.md, table.tex, table.csv, table.json

``variant`` is the hash of everything that defines a cell except its seed (data set key,
protocol, model name and version, resolved config, device type, ...): a run with another config
for a label writes beside the old cells and never over them.

Every file is written atomically (temporary file, ``fsync``, ``os.replace``, ``fsync`` of the
folder), and a cell counts as complete only once its ``cell.json`` exists and both its files
read back; so an interrupted run leaves no half-written cell, and a torn file (a disk full, a
copy cut short) is reported with its path and retrained, never fatal.

Folders written before cells were addressed by their config (``cells/<dataset>/<label>/seed-<s>``)
are read as they are.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqrec_bench.errors import FolderLockedError, ResultsError

__all__ = [
    "CellIdentity",
    "StoredCell",
    "Problem",
    "ResultsDir",
    "ResultsError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "config_hash",
    "differing_fields",
    "differences",
    "to_json",
]

#: The study record of a tuning folder (``seqbench tune``).
STUDY_FILE = "tuning.json"

#: Files written by a run besides its cells.
TABLE_FILES = ("summary.json", "table.md", "table.tex", "table.csv", "table.json")


# -- atomic, durable writes ------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The bytes are fsynced before the rename and the folder after it, so a power cut cannot leave
    a renamed but empty file either.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _file_mode())
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """Atomic, durable text write (UTF-8)."""
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
    """Stable, human-readable JSON (keys keep their order, so tables keep theirs)."""
    return json.dumps(data, indent=2, default=_json_default) + "\n"


def atomic_write_json(path: Path, data: Any) -> None:
    """Atomic, durable JSON write."""
    atomic_write_text(path, to_json(data))


def config_hash(data: Any) -> str:
    """Short stable hash of a JSON-able object (resolved configs, run keys).

    Example:
        >>> config_hash({"b": 1, "a": [1, 2]}) == config_hash({"a": (1, 2), "b": 1})
        True
    """
    blob = json.dumps(data, sort_keys=True, default=_json_default)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


# -- cells ------------------------------------------------------------------------------------
#: The fields of a cell record that define what it measured (besides the seed). Two cells with
#: equal identities are interchangeable runs of one experiment; a table averages only those.
IDENTITY_FIELDS = (
    "dataset_key",
    "data_format",
    "split",
    "split_options",
    "protocol",
    "exclude_seen",
    "ranking",
    "model_name",
    "model_version",
    "config",
    "device_type",
    "control",
    "trial",
)

#: Identity fields added after cells were first stored: absent (``None``) they are left out of
#: the hash, so adding one never re-keys the cells that do not use it.
OPTIONAL_FIELDS = frozenset({"control", "split_options", "trial"})


@dataclass(frozen=True)
class CellIdentity:
    """What defines a cell apart from its seed, and the hashes derived from it.

    Attributes:
        dataset: the data set's label in tables.
        label: the model's label in tables.
        seed: the run's seed.
        fields: the :data:`IDENTITY_FIELDS` (JSON-able values).
    """

    dataset: str
    label: str
    seed: int
    fields: dict[str, Any]

    @property
    def variant(self) -> str:
        """Hash of the identity without the seed: equal for the seeds of one experiment."""
        return config_hash(
            {
                k: self.fields.get(k)
                for k in IDENTITY_FIELDS
                if not (k in OPTIONAL_FIELDS and self.fields.get(k) is None)
            }
        )

    @property
    def run_key(self) -> str:
        """Hash of the identity with the seed: equal only for the same run."""
        return config_hash({"variant": self.variant, "seed": self.seed})

    @property
    def model_config_hash(self) -> str:
        """Hash of the model's resolved config alone (without the seed), as stored in the cell."""
        return config_hash(
            {"model": self.fields.get("model_name"), "config": self.fields.get("config")}
        )

    def relpath(self) -> Path:
        """Where the cell lives inside a results folder."""
        return (
            Path("cells")
            / _safe(self.dataset)
            / _safe(self.label)
            / self.variant
            / f"seed-{self.seed}"
        )

    def describe(self) -> str:
        """``dataset/label seed S`` for messages."""
        return f"{self.dataset}/{self.label} seed {self.seed}"

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> CellIdentity:
        """The identity of a stored ``cell.json`` record (older records get their defaults)."""
        fields = {
            "dataset_key": record.get("dataset_key"),
            "data_format": record.get("data_format", 1),
            "split": record.get("split", "leave-one-out"),
            "split_options": record.get("split_options"),
            "protocol": record["protocol"],
            "exclude_seen": bool(record.get("exclude_seen", True)),
            # cells from before PROTOCOL §3 was corrected kept a repeated target as a candidate
            "ranking": record.get("ranking", 1),
            "model_name": record.get("model_name", record["model"]),
            "model_version": record.get("model_version", 1),
            # the requested config is the identity; "config" is what the model ended with
            "config": record.get("requested_config", record.get("config", {})),
            "device_type": record.get(
                "device_type", str(record.get("device", "cpu")).split(":")[0]
            ),
            "control": record.get("control"),
            # a tuning trial (``seqbench tune``): {"study": key, "number": n}; validation only
            "trial": record.get("trial"),
        }
        return cls(str(record["dataset"]), str(record["model"]), int(record["seed"]), fields)


def _safe(name: str) -> str:
    """A file-system safe folder name for a dataset/model label."""
    keep = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)
    return keep.strip(".") or "_"


@dataclass
class StoredCell:
    """A complete cell read back from a results folder.

    Attributes:
        identity: what the cell measured.
        record: the whole ``cell.json``.
        path: the cell's folder.
        ranks: test ranks (int64), one per test (input, target) pair: one per user, except
            under the global temporal split with ``target="all"``.
        repeat: per pair, whether the test target repeats an input item (``None`` for cells
            written before it was stored).
        owner: per pair, the user row it belongs to (global temporal split), else ``None``.
    """

    identity: CellIdentity
    record: dict[str, Any]
    path: Path
    ranks: np.ndarray = field(repr=False)
    repeat: np.ndarray | None = field(default=None, repr=False)
    owner: np.ndarray | None = field(default=None, repr=False)

    def per_user(self, metric: Any) -> np.ndarray:
        """``metric`` (a parsed metric) per test user: the mean over each user's targets.

        What tables, tests and checks average; equal to ``metric(ranks)`` with one target per user.
        """
        from seqrec_bench.evaluation import per_user_values

        return per_user_values(metric(self.ranks), self.owner)

    @property
    def dataset(self) -> str:
        return self.identity.dataset

    @property
    def label(self) -> str:
        return self.identity.label

    @property
    def seed(self) -> int:
        return self.identity.seed


@dataclass(frozen=True)
class Problem:
    """A cell folder that could not be read: where, and why (reported, then retrained)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _load_ranks(path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    with np.load(path) as data:
        ranks = np.asarray(data["ranks"], dtype=np.int64)
        repeat = np.asarray(data["repeat"], dtype=bool) if "repeat" in data.files else None
        owner = np.asarray(data["owner"], dtype=np.int64) if "owner" in data.files else None
    return ranks, repeat, owner


# -- the folder -------------------------------------------------------------------------------
class ResultsDir:
    """One results folder: cells, data set records, manifest, tables, and its lock.

    Example:
        >>> import tempfile
        >>> rd = ResultsDir(tempfile.mkdtemp())
        >>> cells, problems = rd.scan()
        >>> cells, problems
        ([], [])
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- cells --------------------------------------------------------------------------------
    def cell_dir(self, identity: CellIdentity) -> Path:
        return self.root / identity.relpath()

    def _legacy_dir(self, identity: CellIdentity) -> Path:
        return (
            self.root
            / "cells"
            / _safe(identity.dataset)
            / _safe(identity.label)
            / f"seed-{identity.seed}"
        )

    def read_cell_at(self, folder: Path) -> StoredCell | Problem | None:
        """The cell stored in ``folder``: a :class:`StoredCell`, a :class:`Problem`, or ``None``
        when nothing was completed there (no ``cell.json``: an interrupted write)."""
        record_path = folder / "cell.json"
        if not record_path.exists():
            return None
        try:
            record = _read_json(record_path)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            identity = CellIdentity.from_record(record)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return Problem(record_path, f"unreadable ({exc})")
        except (KeyError, ValueError, TypeError) as exc:
            return Problem(record_path, f"not a cell record ({type(exc).__name__}: {exc})")
        ranks_path = folder / "ranks.npz"
        try:
            ranks, repeat, owner = _load_ranks(ranks_path)
        except FileNotFoundError:
            return Problem(ranks_path, "missing")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            return Problem(ranks_path, f"unreadable ({type(exc).__name__}: {exc})")
        targets = record.get("test_targets", record.get("users"))
        if targets is not None and int(targets) != len(ranks):
            return Problem(ranks_path, f"holds {len(ranks)} ranks, the cell says {targets} targets")
        if repeat is not None and len(repeat) != len(ranks):
            return Problem(ranks_path, f"holds {len(ranks)} ranks but {len(repeat)} repeat flags")
        if owner is not None and len(owner) != len(ranks):
            return Problem(ranks_path, f"holds {len(ranks)} ranks but {len(owner)} owners")
        return StoredCell(identity, record, folder, ranks, repeat, owner)

    def find(self, identity: CellIdentity) -> StoredCell | Problem | None:
        """The complete cell of exactly this run (same run key), a problem, or ``None``."""
        for folder in (self.cell_dir(identity), self._legacy_dir(identity)):
            found = self.read_cell_at(folder)
            if isinstance(found, StoredCell) and found.identity.run_key != identity.run_key:
                continue  # a legacy cell of another config at the same (dataset, label, seed)
            if found is not None:
                return found
        return None

    def scan(self) -> tuple[list[StoredCell], list[Problem]]:
        """Every complete cell (sorted by dataset, label, seed, variant) and every unreadable one."""
        cells: list[StoredCell] = []
        problems: list[Problem] = []
        base = self.root / "cells"
        if not base.is_dir():
            return cells, problems
        folders = sorted(
            {p.parent for p in base.glob("*/*/*/seed-*/cell.json")}
            | {p.parent for p in base.glob("*/*/seed-*/cell.json")}
        )
        for folder in folders:
            found = self.read_cell_at(folder)
            if isinstance(found, StoredCell):
                cells.append(found)
            elif isinstance(found, Problem):
                problems.append(found)
        cells.sort(key=lambda c: (c.dataset, c.label, c.seed, c.identity.variant))
        return cells, problems

    def write_cell(
        self,
        identity: CellIdentity,
        record: dict[str, Any],
        ranks: np.ndarray,
        repeat: np.ndarray | None = None,
        owner: np.ndarray | None = None,
    ) -> Path:
        """Write the ranks first and the record last: a cell without ``cell.json`` is incomplete.

        ``repeat`` flags the pairs whose test target repeats an input item (``--repeat-split``);
        ``owner`` gives each pair's user row (global temporal split).
        """
        folder = self.cell_dir(identity)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cell.json").unlink(
            missing_ok=True
        )  # invalidate first when replacing a torn cell
        buf = io.BytesIO()
        arrays: dict[str, Any] = {"ranks": np.asarray(ranks, dtype=np.int32)}
        if repeat is not None:
            arrays["repeat"] = np.asarray(repeat, dtype=bool)
        if owner is not None:
            arrays["owner"] = np.asarray(owner, dtype=np.int64)
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(folder / "ranks.npz", buf.getvalue())
        atomic_write_json(folder / "cell.json", record)
        return folder

    # -- run-level files ----------------------------------------------------------------------
    def write_dataset(self, name: str, info: dict[str, Any]) -> None:
        atomic_write_json(self.root / "datasets" / f"{_safe(name)}.json", info)

    def read_datasets(self) -> dict[str, dict[str, Any]]:
        """Data set records by label (an unreadable one is skipped: the card then shows '?')."""
        out: dict[str, dict[str, Any]] = {}
        for path in sorted((self.root / "datasets").glob("*.json")):
            try:
                info = _read_json(path)
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(info, dict):
                out[str(info.get("name", path.stem))] = info
        return out

    def write_study(self, study: dict[str, Any]) -> None:
        """Write a tuning folder's study record (``tuning.json``: sampler, seed, budget, metric,
        search spaces, and per model the trials run and the best one)."""
        atomic_write_json(self.root / STUDY_FILE, study)

    def read_study(self) -> dict[str, Any]:
        """The study record of a tuning folder, or ``{}`` (not a tuning folder, or unreadable)."""
        try:
            data = _read_json(self.root / STUDY_FILE)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.root / "manifest.json", manifest)

    def read_manifest(self) -> dict[str, Any]:
        """The manifest, or ``{}`` when missing or unreadable."""
        try:
            data = _read_json(self.root / "manifest.json")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_tables(self, files: dict[str, str]) -> None:
        """Write the rendered tables (``{"table.md": text, ...}``)."""
        for name, text in files.items():
            atomic_write_text(self.root / name, text)

    def check_exists(self) -> None:
        """Raise :class:`ResultsError` unless this is a folder with at least one cell folder."""
        if not self.root.exists():
            raise ResultsError(f"results folder {self.root} does not exist")
        if not self.root.is_dir():
            raise ResultsError(f"{self.root} is a file, not a results folder")
        if not (self.root / "cells").is_dir():
            raise ResultsError(
                f"{self.root} holds no cells (expected cells/<dataset>/<model>/...); "
                "pass the folder that `seqbench run` printed"
            )

    # -- the lock -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(
        self,
        *,
        wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
        poll: float = 0.2,
    ) -> Iterator[None]:
        """Hold the folder's lock: one writing command at a time.

        A second command waits (calling ``on_wait`` once with who holds the lock) or, with
        ``wait=False``, raises :class:`FolderLockedError`. The lock is an ``flock`` on
        ``.lock``, so it goes away with the process that held it, even after SIGKILL.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks, no protection
            yield
            return
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, _file_mode())
        try:
            told = False
            first_try = time.monotonic()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = self._lock_holder(path)
                    # the holder writes its pid just after taking the lock: give it a moment
                    known = holder != "another process" or time.monotonic() - first_try > 1.0
                    if known and not wait:
                        raise FolderLockedError(
                            f"{self.root} is being written by {holder}; "
                            "wait for it or use another --output"
                        ) from None
                    if known and not told and on_wait is not None:
                        on_wait(
                            f"{self.root} is being written by {holder}; waiting for it to finish"
                        )
                        told = True
                    time.sleep(poll if known else min(poll, 0.05))
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {' '.join(_command())}\n".encode())
            yield
        finally:
            os.close(fd)  # closing releases the flock

    @staticmethod
    def _lock_holder(path: Path) -> str:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        pid, _, command = text.partition(" ")
        return f"process {pid} ({command})" if pid else "another process"


def _command() -> list[str]:
    import sys

    return [Path(sys.argv[0]).name, *sys.argv[1:]]


def _flat(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, dict):
            for k, v in value.items():
                out[f"{key}.{k}" if key != "config" else k] = v
        else:
            out[key] = value
    return out


def differing_fields(a: CellIdentity, b: CellIdentity) -> list[str]:
    """The identity fields (config keys by name) whose values differ between two cells.

    Example:
        >>> x = CellIdentity("d", "m", 0, {"protocol": "full", "config": {"alpha": 0.1}})
        >>> y = CellIdentity("d", "m", 1, {"protocol": "full", "config": {"alpha": 5.0}})
        >>> differing_fields(x, y)
        ['alpha']
    """
    fa, fb = _flat(a.fields), _flat(b.fields)
    names = list(dict.fromkeys([*fa, *fb]))
    return [n for n in names if not _same(fa.get(n), fb.get(n))]


def differences(a: CellIdentity, b: CellIdentity) -> list[tuple[str, Any, Any]]:
    """``(field, value in a, value in b)`` for every identity field that differs.

    Example:
        >>> x = CellIdentity("d", "m", 0, {"config": {"order": 1}})
        >>> differences(x, CellIdentity("d", "m", 0, {"config": {"order": 2}}))
        [('order', 1, 2)]
    """
    fa, fb = _flat(a.fields), _flat(b.fields)
    return [(n, fa.get(n), fb.get(n)) for n in differing_fields(a, b)]


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
    if isinstance(x, float) and isinstance(y, float):
        return bool(x == y or (np.isnan(x) and np.isnan(y)))
    return bool(x == y)
