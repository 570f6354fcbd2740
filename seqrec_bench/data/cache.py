"""Where data lives on disk, source checksums, and the cache of prepared data sets.

Layout under :func:`dataset_cache_dir`::

    ml-1m.zip                 downloaded archives (kept: their MD5 is the provenance)
    ml-1m/ratings.dat         extracted raw files
    prepared/<name>-<key>.npz prepared sequences and vocabulary
    prepared/<name>-<key>.json name, checksum, options and statistics

Every file is written to a temporary name in the same folder and moved into place with
:func:`os.replace`, so a crash or a concurrent run never leaves a half-written file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from seqrec_bench.data.dataset import PreparedDataset
from seqrec_bench.data.sequences import Sequences, Vocabulary

__all__ = [
    "dataset_cache_dir",
    "file_sha256",
    "prepared_key",
    "load_prepared",
    "save_prepared",
    "atomic_path",
    "PREPARED_FORMAT_VERSION",
]

#: Bumped whenever preprocessing or the stored layout changes, so stale caches are not reused.
#: 2: exact duplicate records are dropped by default (``duplicates`` option), the statistics
#: gained ``hygiene``, and string ids are stored as UTF-8 bytes plus offsets.
PREPARED_FORMAT_VERSION = 2

_CHUNK = 1 << 20


def dataset_cache_dir() -> Path:
    """The root folder for downloads and prepared data sets.

    ``$SEQBENCH_DATA`` if set, else ``$XDG_CACHE_HOME/seqrec_bench``, else
    ``~/.cache/seqrec_bench``. The folder is created only when something is written to it.

    Example:
        >>> import os; os.environ["SEQBENCH_DATA"] = "/tmp/sb"  # doctest: +SKIP
        >>> dataset_cache_dir()  # doctest: +SKIP
        PosixPath('/tmp/sb')
    """
    env = os.environ.get("SEQBENCH_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "seqrec_bench"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MB chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _default_file_mode() -> int:
    """The mode ``open()`` would give a new file under the current umask (``0o666 & ~umask``).

    ``tempfile.mkstemp`` creates files readable by their owner only; files moved into place
    from it get this mode instead, so results and caches are as readable as any other file.
    """
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(target: Path):
    """Yield a temporary path beside ``target``; on success move it onto ``target``.

    Example:
        >>> with atomic_path(Path("out.json")) as tmp:  # doctest: +SKIP
        ...     tmp.write_text("{}")
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.fchmod(fd, _default_file_mode())  # not mkstemp's owner-only 0600
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def prepared_key(name: str, checksum: str, options: dict[str, Any]) -> str:
    """Cache key of a prepared data set: source checksum + options + format version."""
    blob = json.dumps(
        {"v": PREPARED_FORMAT_VERSION, "name": name, "checksum": checksum, "options": options},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _pack_ids(label: str, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Raw ids as ``.npz`` arrays that need no pickle and scale with the total id length.

    Integer ids stay one int64 array; string ids become one UTF-8 byte buffer
    (``<label>_utf8``) and the byte offsets of every id in it (``<label>_offsets``). A
    fixed-width unicode array would cost 4 bytes x the longest id for every id.
    """
    if ids.dtype.kind in "iu":
        return {label: ids.astype(np.int64)}
    encoded = [str(v).encode("utf-8") for v in ids.tolist()]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return {
        f"{label}_utf8": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        f"{label}_offsets": offsets,
    }


def _unpack_ids(label: str, arrays: Any) -> np.ndarray:
    """The ids :func:`_pack_ids` stored (also reads a plain array, as older caches hold)."""
    if f"{label}_utf8" not in arrays.files:
        plain = arrays[label]
        return plain if plain.dtype.kind in "iu" else plain.astype(object)
    blob = arrays[f"{label}_utf8"].tobytes()
    bounds = arrays[f"{label}_offsets"].tolist()
    out = np.empty(len(bounds) - 1, dtype=object)
    out[:] = [blob[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return out


def _paths(name: str, key: str) -> tuple[Path, Path]:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60]
    folder = dataset_cache_dir() / "prepared"
    return folder / f"{safe}-{key}.npz", folder / f"{safe}-{key}.json"


def load_prepared(name: str, key: str) -> PreparedDataset | None:
    """The cached data set for ``key``, or ``None`` when absent or unreadable."""
    arrays_path, meta_path = _paths(name, key)
    if not (arrays_path.exists() and meta_path.exists()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        with np.load(arrays_path, allow_pickle=False) as arrays:
            sequences = Sequences(
                items=arrays["items"].astype(np.int64),
                offsets=arrays["offsets"].astype(np.int64),
                n_items=int(meta["n_items"]),
            )
            vocab = Vocabulary(
                user_ids=_unpack_ids("user_ids", arrays),
                item_ids=_unpack_ids("item_ids", arrays),
            )
            timestamps = arrays["timestamps"] if "timestamps" in arrays.files else None
    except (OSError, ValueError, KeyError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # a damaged cache entry is rebuilt, never trusted
    return PreparedDataset(
        name=meta["name"],
        sequences=sequences,
        vocab=vocab,
        checksum=meta["checksum"],
        options=meta["options"],
        stats=meta["stats"],
        timestamps=timestamps,
    )


def save_prepared(dataset: PreparedDataset, key: str) -> Path:
    """Write ``dataset`` under ``key`` (arrays first, metadata last: the JSON marks completeness)."""
    arrays_path, meta_path = _paths(dataset.name, key)
    seqs = dataset.sequences
    # int32 halves the file; ids are < 2**31 for any catalogue that fits in memory
    items = seqs.items.astype(np.int32) if seqs.n_items < 2**31 - 1 else seqs.items
    arrays: dict[str, Any] = {
        "items": items,
        "offsets": seqs.offsets,
        **_pack_ids("user_ids", dataset.vocab.user_ids),
        **_pack_ids("item_ids", dataset.vocab.item_ids),
    }
    if dataset.timestamps is not None:
        arrays["timestamps"] = dataset.timestamps
    with atomic_path(arrays_path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    meta = {
        "name": dataset.name,
        "checksum": dataset.checksum,
        "options": dataset.options,
        "stats": dataset.stats,
        "n_items": seqs.n_items,
    }
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    return meta_path
