"""The one entry point from a data set name or file to a :class:`PreparedDataset`."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from numbers import Real
from pathlib import Path
from typing import Any

from seqrec_bench.data.cache import (
    dataset_cache_dir,
    file_sha256,
    load_prepared,
    prepared_key,
    save_prepared,
)
from seqrec_bench.data.dataset import DatasetError, PreparedDataset
from seqrec_bench.data.movielens import MOVIELENS, fetch_movielens
from seqrec_bench.data.preprocess import (
    check_duplicates,
    check_tie_order,
    no_ties_error,
    preprocess_interactions,
)
from seqrec_bench.data.readers import (
    FORMATS,
    Interactions,
    detect_format,
    read_file,
    read_interactions,
)
from seqrec_bench.data.stats import dataset_stats
from seqrec_bench.data.synthetic import SyntheticConfig, generate_synthetic

__all__ = ["load_dataset", "list_datasets", "SYNTHETIC"]

#: Name of the built-in generated data set.
SYNTHETIC = "synthetic"

_SYNTHETIC_DESCRIPTION = (
    "Generated offline: users with persistent topics, noise that hides them from the last item, "
    "item successors, Zipf popularity (10,000 users, 500 items, mean length 12 by default)"
)
#: Ratings files recognised when a folder is given as a local path.
_KNOWN_FILES = ("u.data", "ratings.dat", "ratings.csv")


def _filters(
    min_rating: float | None, min_user: int | None, min_item: int | None
) -> dict[str, Any]:
    """The filter options the user gave (``None`` = not given), validated."""
    if min_rating is not None and (
        isinstance(min_rating, bool) or not isinstance(min_rating, Real)
    ):
        raise DatasetError(f"min_rating must be a number, not {min_rating!r}")
    for label, value in (("min_user_interactions", min_user), ("min_item_interactions", min_item)):
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, Real)
            or int(value) != value
            or value < 0
        ):
            raise DatasetError(f"{label} must be a whole number >= 0, not {value!r}")
    return {
        "min_rating": None if min_rating is None else float(min_rating),
        "min_user_interactions": None if min_user is None else int(min_user),
        "min_item_interactions": None if min_item is None else int(min_item),
    }


def _local_path(name: str, data_dir: str | Path | None) -> Path | None:
    """The file a local name refers to (relative names are also tried under ``data_dir``)."""
    candidates = [Path(name).expanduser()]
    if data_dir is not None and not Path(name).is_absolute():
        candidates.append(Path(data_dir).expanduser() / name)
    for path in candidates:
        if path.is_file():
            return path
        if path.is_dir():
            inside = [path / f for f in _KNOWN_FILES if (path / f).is_file()]
            if len(inside) == 1:
                return inside[0]
            raise DatasetError(
                f"{path} is a folder: give the interactions or sequences file inside it"
            )
    return None


def _checksum(path: Path, progress: bool) -> str:
    """SHA-256 of a source file; an unreadable file is the user's to fix."""
    try:
        with _status(progress, f"hashing {path.name}"):
            return file_sha256(path)
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _status(progress: bool, message: str):
    """A spinner on stderr while a long step runs (only for a human at a terminal)."""
    if not (progress and sys.stderr.isatty()):
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


#: Statistics keys newer than the prepared format: a cached data set without one is re-prepared.
_LATEST_STATS_KEYS = ("leakage",)


def _plain(value: Any) -> Any:
    """JSON round trip, so a fresh data set and a cached one carry identical options/stats."""
    return json.loads(json.dumps(value))


def load_dataset(
    name_or_path: str | Path,
    *,
    format: str | None = None,
    data_dir: str | Path | None = None,
    min_rating: float | None = None,
    min_user_interactions: int | None = None,
    min_item_interactions: int | None = None,
    columns: Mapping[str, str | int | None] | None = None,
    duplicates: str = "drop",
    tie_order: str = "file",
    synthetic: Mapping[str, Any] | None = None,
    cache: bool = True,
    progress: bool = True,
) -> PreparedDataset:
    """Load, preprocess (PROTOCOL §1) and cache a data set.

    Args:
        name_or_path: ``"ml-100k"``, ``"ml-1m"``, ``"ml-20m"``, ``"synthetic"``, or the path of a
            local interactions or sequences file.
        format: ``"interactions"`` or ``"sequences"`` for local files; ``None`` detects it.
        data_dir: where the user already has a named data set's files (its zip, the extracted
            folder, or the folder containing either); then nothing is downloaded. Relative local
            paths are also looked up there.
        min_rating: drop records rated below this.
        min_user_interactions: user k-core threshold (named data sets: their preset; 0 = off).
        min_item_interactions: item k-core threshold (named data sets: their preset; 0 = off).
        columns: for interactions files, ``{"user": ..., "item": ..., "timestamp": ...,
            "rating": ...}`` naming header names or 0-based positions (``"time"`` is accepted
            for ``"timestamp"``; :func:`~seqrec_bench.data.readers.parse_columns` reads the
            ``user=COL,item=COL,time=COL`` form).
        duplicates: ``"drop"`` (default) removes exact duplicate records (same user, item and
            timestamp; the first in file order stays), ``"keep"`` keeps them. Both count them in
            ``stats["hygiene"]``. Data without timestamps has no duplicates to tell.
        tie_order: how a user's records with the same timestamp are ordered: ``"file"``
            (default, PROTOCOL §1.4) keeps the source file order, ``"item"`` sorts them by raw
            item id (ascending: numeric for integer ids, by code point for string ids),
            ``"random"`` by a fixed seeded random key (the same order on every run). Recorded
            in ``options`` (and so in the key) only when it is not ``"file"``, so the default
            leaves every existing data set's key unchanged. Data without timestamps (sequences
            files, synthetic) accepts only ``"file"``.
        synthetic: options of the synthetic generator (see :class:`SyntheticConfig`).
        cache: reuse / write the prepared data set under ``dataset_cache_dir() / "prepared"``.
        progress: show download progress and a spinner (only when stderr is a terminal).

    Returns:
        The prepared data set; ``options`` holds every preprocessing option that was applied
        (presets, ``duplicates`` and a non-default ``tie_order`` included) and ``stats`` the PROTOCOL §1 statistics, with the
        data-hygiene figures under ``stats["hygiene"]``; ``timestamps`` the per-interaction
        timestamps aligned with ``sequences.items`` (``None`` without timestamps).

    Raises:
        DatasetError: anything the user can fix (unknown name or format, missing or malformed
            file, no network, checksum mismatch, nothing left after filtering, a ``tie_order``
            other than ``"file"`` for data without timestamps), as one line.

    Example:
        >>> ds = load_dataset("synthetic", synthetic={"n_users": 300, "seed": 1}, cache=False)
        >>> ds.stats["users"], ds.options["synthetic"]["n_items"]
        (300, 500)
    """
    if format is not None and format not in FORMATS:
        raise DatasetError(
            f"unknown format {format!r}: use --format interactions or --format sequences "
            "(auto-detected when omitted)"
        )
    given = _filters(min_rating, min_user_interactions, min_item_interactions)
    check_duplicates(duplicates)
    check_tie_order(tie_order)
    name = str(name_or_path)
    if synthetic is not None and name != SYNTHETIC:
        raise DatasetError(f"synthetic options were given but the data set is {name!r}")

    read: Callable[[], Interactions]
    if name == SYNTHETIC:
        if format is not None or columns:
            raise DatasetError("the synthetic data set takes no --format or --columns")
        if tie_order != "file":
            raise no_ties_error("the synthetic data set", tie_order)
        config = SyntheticConfig.from_dict(dict(synthetic or {}))
        options = {**given, "synthetic": config.to_dict()}
        checksum = config.checksum

        def read() -> Interactions:
            return generate_synthetic(config)

    elif name in MOVIELENS:
        spec = MOVIELENS[name]
        if columns or format not in (None, "interactions"):
            raise DatasetError(f"{name} has a fixed format: drop --format/--columns")
        path = fetch_movielens(spec, data_dir, progress)
        options = {**spec.defaults, **{k: v for k, v in given.items() if v is not None}}
        checksum = _checksum(path, progress)

        def read() -> Interactions:
            return read_interactions(path, spec.columns)

    else:
        local = _local_path(name, data_dir)
        if local is None:
            raise DatasetError(
                f"unknown data set {name!r}: not a built-in name ({', '.join(list(MOVIELENS) + [SYNTHETIC])}) "
                "and no such file; give one of those names or the path of an interactions or "
                "sequences file"
            )
        fmt = format or detect_format(local)
        if fmt == "sequences" and tie_order != "file":
            raise no_ties_error(f"{local} (a sequences file)", tie_order)
        options = {**given, "format": fmt, "columns": dict(columns) if columns else None}
        name = local.name
        checksum = _checksum(local, progress)

        def read() -> Interactions:
            return read_file(local, fmt, columns)

    options = _plain({**options, "duplicates": duplicates})
    if tie_order != "file":  # absent by default: existing keys and stored results stay valid
        options["tie_order"] = tie_order
    key = prepared_key(name, checksum, options)
    if cache:
        hit = load_prepared(name, key)
        # statistics prepared before a key existed are recomputed (the sequences are the same,
        # so the format version, which is part of every result's identity, is not bumped)
        # likewise an entry of a timestamped source (``tied_share`` is set exactly when the data
        # has timestamps) stored before the per-interaction timestamps were kept is prepared again
        stale_timestamps = hit is not None and (
            hit.timestamps is None and hit.stats.get("tied_share") is not None
        )
        if (
            hit is not None
            and all(k in hit.stats for k in _LATEST_STATS_KEYS)
            and not stale_timestamps
        ):
            return hit

    with _status(progress, f"preparing {name}"):
        records = read()
        prepared = preprocess_interactions(
            records,
            min_rating=options["min_rating"],
            min_user_interactions=options["min_user_interactions"],
            min_item_interactions=options["min_item_interactions"],
            duplicates=duplicates,
            tie_order=tie_order,
        )
        stats = dataset_stats(
            prepared.sequences, prepared.timestamps, prepared.counts, records.files
        )
    dataset = PreparedDataset(
        name=name,
        sequences=prepared.sequences,
        vocab=prepared.vocab,
        checksum=checksum,
        options=options,
        stats=_plain(stats),
        timestamps=prepared.timestamps,
    )
    if cache:
        try:
            save_prepared(dataset, key)
        except OSError as exc:  # a read-only cache must not stop the run
            warnings.warn(f"could not cache {name} in {dataset_cache_dir()}: {exc}", stacklevel=2)
    return dataset


def list_datasets() -> list[dict[str, Any]]:
    """The built-in data sets, whether their raw files are already local, and their presets.

    Returns:
        One dict per data set: ``name``, ``description``, ``cached`` (raw files present, no
        download needed), ``path`` (where they are, or where the download will go; ``None`` for
        synthetic) and ``options`` (the default preprocessing).

    Example:
        >>> [d["name"] for d in list_datasets()]
        ['ml-100k', 'ml-1m', 'ml-20m', 'synthetic']
    """
    root = dataset_cache_dir()
    out = []
    for spec in MOVIELENS.values():
        extracted, archive = root / spec.name / spec.ratings_file, root / spec.archive
        path = extracted if extracted.is_file() else archive
        out.append(
            {
                "name": spec.name,
                "description": spec.description,
                "cached": path.is_file(),
                "path": str(path),
                "options": dict(spec.defaults),
            }
        )
    out.append(
        {
            "name": SYNTHETIC,
            "description": _SYNTHETIC_DESCRIPTION,
            "cached": True,
            "path": None,
            "options": {
                "min_rating": None,
                "min_user_interactions": None,
                "min_item_interactions": None,
                "synthetic": SyntheticConfig().to_dict(),
            },
        }
    )
    return out
