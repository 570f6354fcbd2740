"""load_dataset / list_datasets / dataset_cache_dir: names, local data, presets, the cache."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import seqrec_bench.data.load as load_module
from seqrec_bench.data import (
    DatasetError,
    PreparedDataset,
    dataset_cache_dir,
    list_datasets,
    load_dataset,
)
from seqrec_bench.data.movielens import ARCHIVE_MD5


def tiny_udata(n_users: int = 12, n_items: int = 10) -> str:
    """A dense little u.data: every user rates 8 of the 10 items (survives the 5-core preset)."""
    rng = np.random.default_rng(7)
    lines = []
    for u in range(1, n_users + 1):
        for k, i in enumerate(rng.choice(np.arange(1, n_items + 1), size=8, replace=False)):
            lines.append(f"{u}\t{i}\t{rng.integers(1, 6)}\t{880000000 + 10 * k}")
    return "\n".join(lines) + "\n"


def make_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def assert_same(a: PreparedDataset, b: PreparedDataset) -> None:
    assert a.name == b.name and a.checksum == b.checksum
    assert a.options == b.options and a.stats == b.stats
    np.testing.assert_array_equal(a.sequences.items, b.sequences.items)
    np.testing.assert_array_equal(a.sequences.offsets, b.sequences.offsets)
    assert a.sequences.n_items == b.sequences.n_items
    assert a.vocab.user_ids.dtype == b.vocab.user_ids.dtype
    np.testing.assert_array_equal(a.vocab.user_ids, b.vocab.user_ids)
    np.testing.assert_array_equal(a.vocab.item_ids, b.vocab.item_ids)


# -- cache directory ------------------------------------------------------------------------------
def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEQBENCH_DATA", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert dataset_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("SEQBENCH_DATA")
    assert dataset_cache_dir() == tmp_path / "xdg" / "seqrec_bench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert dataset_cache_dir() == tmp_path / "home" / ".cache" / "seqrec_bench"


# -- local files and the prepared cache -----------------------------------------------------------
def test_local_file_no_kcore_by_default(tmp_path: Path) -> None:
    path = tmp_path / "u.data"
    path.write_text(tiny_udata() + "99\t1\t5\t1\n99\t2\t5\t2\n")
    ds = load_dataset(path, progress=False)
    assert ds.name == "u.data"
    assert ds.options == {
        "min_rating": None,
        "min_user_interactions": None,
        "min_item_interactions": None,
        "format": "interactions",
        "columns": None,
        "duplicates": "drop",
    }
    assert ds.stats["users"] == 12 and ds.stats["users_dropped_short"] == 1
    assert len(ds.checksum) == 64


def test_cache_hit_is_identical_and_skips_preprocessing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path
) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "user,item,timestamp\n"
        + "".join(f"u{u},i{(u * 7 + k) % 9},{k}\n" for u in range(6) for k in range(5))
    )
    first = load_dataset(path, progress=False)
    assert list((isolated_cache / "prepared").glob("*.npz"))

    def boom(*args, **kwargs):
        raise AssertionError("a cache hit must not preprocess again")

    monkeypatch.setattr(load_module, "preprocess_interactions", boom)
    second = load_dataset(path, progress=False)
    assert_same(first, second)
    assert second.vocab.user_ids.tolist() == [f"u{u}" for u in range(6)]

    # different options or different bytes are a different key
    with pytest.raises(AssertionError, match="must not preprocess"):
        load_dataset(path, min_item_interactions=2, progress=False)
    path.write_text(path.read_text() + "u0,i8,9\n")
    with pytest.raises(AssertionError, match="must not preprocess"):
        load_dataset(path, progress=False)


def test_cache_false_neither_reads_nor_writes(tmp_path: Path, isolated_cache: Path) -> None:
    path = tmp_path / "u.data"
    path.write_text(tiny_udata())
    a = load_dataset(path, cache=False, progress=False)
    assert not (isolated_cache / "prepared").exists()
    b = load_dataset(path, progress=False)
    assert_same(a, b)


def test_damaged_cache_entry_is_rebuilt(tmp_path: Path, isolated_cache: Path) -> None:
    path = tmp_path / "u.data"
    path.write_text(tiny_udata())
    a = load_dataset(path, progress=False)
    for npz in (isolated_cache / "prepared").glob("*.npz"):
        npz.write_bytes(b"not a zip")
    assert_same(a, load_dataset(path, progress=False))


def test_relative_path_under_data_dir(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "u.data").write_text(tiny_udata())
    ds = load_dataset("u.data", data_dir=tmp_path / "logs", cache=False, progress=False)
    assert ds.stats["interactions"] == 96


def test_folder_with_a_known_file(tmp_path: Path) -> None:
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_text(tiny_udata())
    ds = load_dataset(tmp_path / "ml-100k", cache=False, progress=False)
    assert ds.name == "u.data" and ds.stats["users"] == 12


# -- named data sets from files the user already has ----------------------------------------------
@pytest.fixture
def ml100k_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = make_zip(
        tmp_path / "ml-100k.zip", {"ml-100k/u.data": tiny_udata(), "ml-100k/README": "x"}
    )
    from seqrec_bench.data.download import file_md5

    monkeypatch.setitem(ARCHIVE_MD5, "ml-100k.zip", file_md5(path))
    return path


@pytest.mark.parametrize("where", ["zip", "folder-with-zip", "extracted", "folder-with-extracted"])
def test_named_from_data_dir(tmp_path: Path, ml100k_zip: Path, where: str) -> None:
    if where == "zip":
        data_dir = ml100k_zip
    elif where == "folder-with-zip":
        data_dir = tmp_path
    else:
        with zipfile.ZipFile(ml100k_zip) as zf:
            zf.extractall(tmp_path / "user")
        ml100k_zip.unlink()
        data_dir = tmp_path / "user" / "ml-100k" if where == "extracted" else tmp_path / "user"
    ds = load_dataset("ml-100k", data_dir=data_dir, progress=False)
    assert ds.name == "ml-100k"
    assert ds.options == {
        "min_rating": None,
        "min_user_interactions": 5,
        "min_item_interactions": 5,
        "duplicates": "drop",
    }
    assert ds.stats["files"] == ["u.data"]
    assert ds.stats["users"] == 12 and ds.stats["interactions"] == 96


def test_named_preset_can_be_overridden(tmp_path: Path, ml100k_zip: Path) -> None:
    ds = load_dataset(
        "ml-100k", data_dir=tmp_path, min_item_interactions=0, min_rating=3, progress=False
    )
    assert ds.options == {
        "min_rating": 3.0,
        "min_user_interactions": 5,
        "min_item_interactions": 0,
        "duplicates": "drop",
    }


def test_named_zip_with_wrong_md5(
    tmp_path: Path, ml100k_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ARCHIVE_MD5, "ml-100k.zip", "0" * 32)
    with pytest.raises(DatasetError, match=r"has MD5 .* expected 0{32}"):
        load_dataset("ml-100k", data_dir=ml100k_zip, progress=False)


def test_named_data_dir_without_the_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no ml-1m data in .*ml-1m\.zip.*ratings\.dat"):
        load_dataset("ml-1m", data_dir=tmp_path, progress=False)


def test_named_rejects_format_and_columns(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="fixed format"):
        load_dataset("ml-1m", format="sequences", progress=False)


# -- errors ---------------------------------------------------------------------------------------
def test_unknown_name() -> None:
    with pytest.raises(
        DatasetError, match=r"unknown data set 'ml-2m'.*ml-100k, ml-1m, ml-20m, synthetic"
    ):
        load_dataset("ml-2m", progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_user_interactions": -1}, "whole number"),
        ({"min_item_interactions": 2.5}, "whole number"),
        ({"min_rating": "high"}, "must be a number"),
        ({"synthetic": {"n_users": 10}}, "synthetic options were given"),
    ],
)
def test_bad_options(tmp_path: Path, kwargs: dict, message: str) -> None:
    path = tmp_path / "u.data"
    path.write_text(tiny_udata())
    with pytest.raises(DatasetError, match=message):
        load_dataset(path, progress=False, **kwargs)


# -- listing --------------------------------------------------------------------------------------
def test_list_datasets(tmp_path: Path, ml100k_zip: Path, isolated_cache: Path) -> None:
    info = {d["name"]: d for d in list_datasets()}
    assert list(info) == ["ml-100k", "ml-1m", "ml-20m", "synthetic"]
    assert not info["ml-1m"]["cached"]
    assert info["ml-1m"]["path"] == str(isolated_cache / "ml-1m.zip")
    assert info["ml-1m"]["options"]["min_item_interactions"] == 5
    assert info["synthetic"]["options"]["synthetic"]["n_users"] == 10_000
    load_dataset("ml-100k", data_dir=ml100k_zip, progress=False)  # unpacks into the cache
    info = {d["name"]: d for d in list_datasets()}
    assert info["ml-100k"]["cached"]
    assert info["ml-100k"]["path"] == str(isolated_cache / "ml-100k" / "u.data")


# -- memory that scales with the ids ----------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["interactions", "sequences"])
def test_one_very_long_id_costs_its_own_length(
    tmp_path: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    # 300 items, one of them named by 200,000 characters: a fixed-width unicode vocabulary would
    # hold 300 x 800 KB = 240 MB (in memory and in the cache); raw ids cost their own length
    long_id = "x" * 200_000
    items = [f"i{j}" for j in range(299)] + [long_id]
    path = tmp_path / ("log.csv" if fmt == "interactions" else "seqs.txt")
    if fmt == "interactions":
        rows = [f"u{j % 50},{item},{j}" for j, item in enumerate(items * 2)]
        path.write_text("user,item,timestamp\n" + "\n".join(rows) + "\n")
    else:
        lines = [f"u{u} " + " ".join(items[u::50]) for u in range(50)]
        path.write_text("\n".join(lines) + "\n")
    ds = load_dataset(path, format=fmt, progress=False)
    assert ds.vocab.item_ids.dtype == object and ds.vocab.item_ids.nbytes <= 8 * 300
    assert long_id in ds.vocab.item_ids.tolist()
    (npz,) = (isolated_cache / "prepared").glob("*.npz")
    assert npz.stat().st_size < 1_000_000
    monkeypatch.setattr(load_module, "preprocess_interactions", None)  # must be a cache hit
    cached = load_dataset(path, format=fmt, progress=False)
    assert_same(ds, cached)
    assert cached.vocab.item_ids.tolist() == ds.vocab.item_ids.tolist()


def test_cache_with_non_ascii_ids_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.csv"
    users = ["zoë", "日本", "a,b"]
    rows = [f'"{u}",item-é{k % 4},{k}' for u in users for k in range(5)]
    path.write_text("user,item,timestamp\n" + "\n".join(rows) + "\n", encoding="utf-8")
    first = load_dataset(path, progress=False)
    monkeypatch.setattr(load_module, "preprocess_interactions", None)  # must be a cache hit
    second = load_dataset(path, progress=False)
    assert_same(first, second)
    assert sorted(second.vocab.user_ids.tolist()) == sorted(users)
