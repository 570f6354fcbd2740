"""The named MovieLens data sets: where their files come from and how they are preprocessed.

Presets (explicit; returned in ``PreparedDataset.options`` and recorded with every run):

* ``ml-100k``: ``u.data`` (tab-separated ``user item rating timestamp``), 100,000 ratings by
  943 users on 1,682 movies. 5-core on users and items, iteratively: every user already has 20
  ratings, so the preset only removes the movies rated fewer than 5 times, leaving 943 users,
  1,349 items and 99,287 interactions.
* ``ml-1m``: ``ratings.dat`` (``user::item::rating::timestamp``), 1,000,209 ratings. 5-core on
  users and items, iteratively, which gives the 6,040-user / 3,416-item version used by the
  SASRec and BERT4Rec papers.
* ``ml-20m``: ``ratings.csv`` (header ``userId,movieId,rating,timestamp``), 20,000,263 ratings.
  5-core on users and items, iteratively, like ml-1m.

All three keep every rating as an interaction (``min_rating=None``). Pass
``min_user_interactions=0`` / ``min_item_interactions=0`` to switch a preset filter off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqrec_bench.data.cache import dataset_cache_dir
from seqrec_bench.data.dataset import DatasetError
from seqrec_bench.data.download import DownloadFailed, download, file_md5, safe_extract

__all__ = [
    "MovieLensSpec",
    "MOVIELENS",
    "ARCHIVE_MD5",
    "DEFAULT_GROUPLENS_URL",
    "grouplens_url",
    "find_movielens",
    "fetch_movielens",
]

DEFAULT_GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens"

#: MD5 of the official archives, as published by GroupLens.
ARCHIVE_MD5: dict[str, str] = {
    "ml-100k.zip": "0e33842e24a9c977be4e0107933c0723",
    "ml-1m.zip": "c4d9eecfca2ab87c1945afe126590906",
    "ml-20m.zip": "cd245b17a1ae2cc31bb14903e1204af3",
}


@dataclass(frozen=True)
class MovieLensSpec:
    """One named MovieLens data set.

    Attributes:
        name: the name users type (``"ml-1m"``); also the archive's top-level folder.
        description: one line for ``seqbench datasets``.
        ratings_file: the ratings file inside the folder.
        columns: field positions of ``ratings_file`` (0-based) for the interactions reader.
        defaults: the preprocessing preset.
    """

    name: str
    description: str
    ratings_file: str
    columns: dict[str, int]
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def archive(self) -> str:
        return f"{self.name}.zip"


_FIVE_CORE = {"min_rating": None, "min_user_interactions": 5, "min_item_interactions": 5}
_USER_ITEM_RATING_TS = {"user": 0, "item": 1, "rating": 2, "timestamp": 3}

MOVIELENS: dict[str, MovieLensSpec] = {
    spec.name: spec
    for spec in (
        MovieLensSpec(
            "ml-100k",
            "MovieLens 100K: 100,000 ratings, 943 users, 1,682 movies (GroupLens)",
            "u.data",
            _USER_ITEM_RATING_TS,
            _FIVE_CORE,
        ),
        MovieLensSpec(
            "ml-1m",
            "MovieLens 1M: 1,000,209 ratings, 6,040 users, 3,706 rated movies (GroupLens)",
            "ratings.dat",
            _USER_ITEM_RATING_TS,
            _FIVE_CORE,
        ),
        MovieLensSpec(
            "ml-20m",
            "MovieLens 20M: 20,000,263 ratings, 138,493 users, 26,744 rated movies (GroupLens)",
            "ratings.csv",
            _USER_ITEM_RATING_TS,
            _FIVE_CORE,
        ),
    )
}


def grouplens_url() -> str:
    """Base URL of the archives; ``$SEQBENCH_GROUPLENS_URL`` overrides it (mirrors, tests)."""
    return os.environ.get("SEQBENCH_GROUPLENS_URL", DEFAULT_GROUPLENS_URL).rstrip("/")


def _verify_archive(spec: MovieLensSpec, archive: Path) -> None:
    expected = ARCHIVE_MD5.get(spec.archive)
    if expected is None:
        return
    actual = file_md5(archive)
    if actual != expected:
        raise DatasetError(
            f"{archive} has MD5 {actual}, expected {expected}: it is damaged or not the official "
            f"{spec.archive}; delete it (it will be downloaded again) or replace it"
        )


def _extract(spec: MovieLensSpec, archive: Path, *, verified: bool = False) -> Path:
    """Verify (unless just downloaded and checked) and unpack ``archive`` into the cache."""
    if not verified:
        _verify_archive(spec, archive)
    target = dataset_cache_dir() / spec.name
    safe_extract(archive, target, spec.name)
    ratings = target / spec.ratings_file
    if not ratings.is_file():
        raise DatasetError(f"{archive} has no {spec.name}/{spec.ratings_file}; delete it")
    return ratings


def find_movielens(spec: MovieLensSpec, root: Path) -> Path | None:
    """The ratings file under ``root`` without downloading (unpacking a zip if that is all).

    ``root`` may be the ratings file, the zip, the extracted folder or the folder containing
    either of them.
    """
    root = root.expanduser()
    if root.is_file():
        if root.suffix.lower() == ".zip":
            return _extract(spec, root)
        return root if root.name == spec.ratings_file else None
    for candidate in (root / spec.ratings_file, root / spec.name / spec.ratings_file):
        if candidate.is_file():
            return candidate
    if (root / spec.archive).is_file():
        return _extract(spec, root / spec.archive)
    return None


def fetch_movielens(spec: MovieLensSpec, data_dir: str | Path | None, progress: bool) -> Path:
    """The ratings file of ``spec``: from ``data_dir``, the cache, or a download into the cache.

    Raises:
        DatasetError: nothing usable in ``data_dir``, no network, or a bad archive; the message
            says which file to put where.
    """
    if data_dir is not None:
        found = find_movielens(spec, Path(data_dir))
        if found is None:
            raise DatasetError(
                f"no {spec.name} data in {data_dir}: expected {spec.archive}, the extracted "
                f"{spec.name}/ folder or {spec.ratings_file} there"
            )
        return found
    cache = dataset_cache_dir()
    found = find_movielens(spec, cache)
    if found is not None:
        return found
    url = f"{grouplens_url()}/{spec.archive}"
    try:
        archive = download(
            url, cache / spec.archive, md5=ARCHIVE_MD5.get(spec.archive), progress=progress
        )
    except DownloadFailed as exc:
        raise DatasetError(
            f"could not download {spec.archive} from {url} ({exc}): put {spec.archive} or the "
            f"extracted {spec.name}/ folder in {cache} or pass --data-dir"
        ) from None
    return _extract(spec, archive, verified=True)
