"""The real data sets in ../shared/data (skipped when that folder is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqrec_bench.data import load_dataset

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (../shared/data is absent)")
    return path


def test_ml100k_raw_file() -> None:
    ds = load_dataset(shared("ml-100k", "u.data"), progress=False)
    st = ds.stats
    assert ds.options["format"] == "interactions"
    assert (st["users"], st["items"], st["interactions"]) == (943, 1682, 100_000)
    assert st["users_dropped_short"] == 0 and st["records_dropped"] == 0
    assert st["length"]["min"] == 20 and st["length"]["max"] == 737
    # PROTOCOL §1.4: 76% of ML-100K interactions share (user, timestamp) with another one
    assert st["tied_share"] == pytest.approx(0.758, abs=0.001)
    assert st["test_repeat_share"] == 0.0
    # no exact duplicate records: dropping them changes nothing
    assert st["hygiene"]["duplicates_found"] == 0
    assert st["hygiene"]["consecutive_repeats"] == 0


def test_ml100k_named_preset_from_data_dir() -> None:
    ds = load_dataset("ml-100k", data_dir=shared("ml-100k"), progress=False)
    st = ds.stats
    assert ds.options == {
        "min_rating": None,
        "min_user_interactions": 5,
        "min_item_interactions": 5,
        "duplicates": "drop",
    }
    # every user has >= 20 ratings; the 5-core removes the 333 movies rated fewer than 5 times
    assert (st["users"], st["items"]) == (943, 1349)
    assert st["records_dropped_kcore"] == 100_000 - st["interactions"]


def test_beauty_sequences() -> None:
    ds = load_dataset(shared("amazon-beauty", "Beauty.txt"), progress=False)
    st = ds.stats
    assert ds.options["format"] == "sequences"
    assert (st["users"], st["items"], st["interactions"]) == (22_363, 12_101, 198_502)
    assert st["tied_share"] is None
    # ids are already dense in this file: the mapping is the identity
    assert ds.vocab.item_ids[:3].tolist() == [1, 2, 3]
    assert ds.sequences[0].tolist() == [1, 2, 3, 4, 5]
