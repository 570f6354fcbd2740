"""``tie_order``: how a user's records with the same timestamp are ordered (file, item, random)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import seqrec_bench.data.load as load_module
from seqrec_bench.data import DatasetError, Interactions, load_dataset, preprocess_interactions
from seqrec_bench.data.preprocess import TIE_ORDERS

# user 1: 40 at t=5, then 30, 10, 20, 50 tied at t=10, then 60 at t=11;
# user 2: 30 at t=0, then 20, 10 tied at t=1
ROWS = [
    (1, 30, 10),
    (1, 40, 5),
    (1, 10, 10),
    (2, 20, 1),
    (1, 20, 10),
    (1, 60, 11),
    (2, 10, 1),
    (2, 30, 0),
    (1, 50, 10),
]


def records(rows: list[tuple], items_as_str: bool = False) -> Interactions:
    users, items, ts = (np.asarray(c) for c in zip(*rows, strict=True))
    if items_as_str:
        items = np.asarray([f"i{v}" for v in items], dtype=object)
    return Interactions(users=users, items=items, timestamps=ts)


def raw_lists(out) -> list[list]:
    raw = out.vocab.item_ids[out.sequences.items - 1]
    bounds = out.sequences.offsets.tolist()
    return [raw[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def test_file_order_is_the_default_and_keeps_the_file_order() -> None:
    default = preprocess_interactions(records(ROWS))
    explicit = preprocess_interactions(records(ROWS), tie_order="file")
    assert raw_lists(default) == raw_lists(explicit) == [[40, 30, 10, 20, 50, 60], [30, 20, 10]]


@pytest.mark.parametrize("as_str", [False, True])
def test_item_order_sorts_ties_by_raw_item_id(as_str: bool) -> None:
    out = preprocess_interactions(records(ROWS, items_as_str=as_str), tie_order="item")
    expected = [[40, 10, 20, 30, 50, 60], [30, 10, 20]]
    if as_str:
        expected = [[f"i{v}" for v in seq] for seq in expected]
    assert raw_lists(out) == expected
    assert out.timestamps.tolist() == [5, 10, 10, 10, 10, 11, 0, 1, 1]


def test_item_order_with_float_and_huge_timestamps() -> None:
    for ts in ([2.5, 1.0, 2.5, 2.5], [10**18, -(10**18), 10**18, 10**18]):
        rows = [(7, item, t) for item, t in zip([3, 1, 4, 2], ts, strict=True)]
        out = preprocess_interactions(records(rows), tie_order="item")
        assert raw_lists(out) == [[1, 2, 3, 4]]


def test_random_order_is_reproducible_and_moves_some_tie() -> None:
    # many users with five tied records each: the random order must differ from the file order
    rows = [(u, i, 100) for u in range(50) for i in (5, 1, 4, 2, 3)]
    a = preprocess_interactions(records(rows), tie_order="random")
    b = preprocess_interactions(records(rows), tie_order="random")
    file_order = preprocess_interactions(records(rows))
    np.testing.assert_array_equal(a.sequences.items, b.sequences.items)
    assert not np.array_equal(a.sequences.items, file_order.sequences.items)
    # only ties move: every user keeps the same items
    assert [sorted(s) for s in raw_lists(a)] == [[1, 2, 3, 4, 5]] * 50
    # and untied records keep their time order
    out = raw_lists(preprocess_interactions(records(ROWS), tie_order="random"))
    assert out[0][0] == 40 and out[0][-1] == 60 and out[1][0] == 30
    assert sorted(out[0][1:5]) == [10, 20, 30, 50] and sorted(out[1][1:]) == [10, 20]


def test_random_order_is_pinned() -> None:
    # the stream is numpy_generator(0, "shuffle", TIE_ORDER_KEY): a change here would change every
    # data set prepared with tie_order="random" (and the results stored under its key)
    out = preprocess_interactions(records(ROWS), tie_order="random")
    assert raw_lists(out) == PINNED_RANDOM


PINNED_RANDOM = [[40, 20, 50, 30, 10, 60], [30, 10, 20]]


def test_random_order_of_a_tie_does_not_depend_on_filters() -> None:
    # the key of a record is drawn for its place in the file, so dropping users 2 and 3 by a
    # filter leaves user 1's ties as they were
    rows = [(3, 70, 1), (3, 80, 1), (3, 90, 1), *ROWS]
    everyone = raw_lists(preprocess_interactions(records(rows), tie_order="random"))
    filtered = preprocess_interactions(records(rows), min_user_interactions=4, tie_order="random")
    assert len(everyone) == 3 and raw_lists(filtered) == [everyone[0]]


def test_unknown_tie_order_is_one_line() -> None:
    for bad in ("time", "", None, 1):
        with pytest.raises(DatasetError) as info:
            preprocess_interactions(records(ROWS), tie_order=bad)  # type: ignore[arg-type]
        message = str(info.value)
        assert "\n" not in message
        assert all(repr(t) in message for t in TIE_ORDERS)
        assert "--tie-order file|item|random" in message


def test_no_timestamps_accepts_only_file() -> None:
    recs = Interactions(
        users=np.array([1, 1, 1]), items=np.array([3, 1, 2]), timestamps=None, files=["x.txt"]
    )
    assert preprocess_interactions(recs).sequences.to_lists() == [[3, 1, 2]]
    for tie_order in ("item", "random"):
        with pytest.raises(DatasetError, match=r"^x\.txt has no timestamps, so there are no ties"):
            preprocess_interactions(recs, tie_order=tie_order)


# -- load_dataset ---------------------------------------------------------------------------------
def write_log(tmp_path: Path) -> Path:
    path = tmp_path / "log.csv"
    lines = [f"u{u},i{(u * 7 + k) % 9},{k // 2}\n" for u in range(6) for k in range(6)]
    path.write_text("user,item,timestamp\n" + "".join(lines))
    return path


def test_default_leaves_options_and_key_unchanged(tmp_path: Path) -> None:
    path = write_log(tmp_path)
    before = load_dataset(path, cache=False, progress=False)
    default = load_dataset(path, tie_order="file", cache=False, progress=False)
    assert "tie_order" not in before.options
    assert default.options == before.options and default.key == before.key
    np.testing.assert_array_equal(default.sequences.items, before.sequences.items)
    # the key of the default is the key every existing result is stored under
    assert set(before.options) == {
        "min_rating",
        "min_user_interactions",
        "min_item_interactions",
        "format",
        "columns",
        "duplicates",
    }


def test_synthetic_default_key_unchanged() -> None:
    a = load_dataset("synthetic", synthetic={"n_users": 50, "seed": 0}, cache=False)
    b = load_dataset("synthetic", synthetic={"n_users": 50, "seed": 0}, tie_order="file")
    assert a.options == b.options and a.key == b.key and "tie_order" not in a.options


@pytest.mark.parametrize("tie_order", ["item", "random"])
def test_other_orders_are_recorded_and_keyed_apart(
    tmp_path: Path, tie_order: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_log(tmp_path)
    file_order = load_dataset(path, progress=False)
    other = load_dataset(path, tie_order=tie_order, progress=False)
    assert other.options == {**file_order.options, "tie_order": tie_order}
    assert other.key != file_order.key
    assert not np.array_equal(other.sequences.items, file_order.sequences.items)
    # each is its own cache entry, and a hit gives the same sequences back
    monkeypatch.setattr(load_module, "preprocess_interactions", None)
    again = load_dataset(path, tie_order=tie_order, progress=False)
    assert again.options == other.options and again.key == other.key
    np.testing.assert_array_equal(again.sequences.items, other.sequences.items)


def test_load_item_order_matches_preprocess(tmp_path: Path) -> None:
    path = tmp_path / "ties.csv"
    path.write_text("user,item,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, t in ROWS))
    ds = load_dataset(path, tie_order="item", cache=False, progress=False)
    raw = ds.vocab.item_ids[ds.sequences.items - 1].tolist()
    assert raw == [40, 10, 20, 30, 50, 60, 30, 10, 20]


def test_load_rejects_unknown_tie_order_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        load_dataset(write_log(tmp_path), tie_order="timestamp", progress=False)
    assert "\n" not in str(info.value) and "'file'" in str(info.value)


@pytest.mark.parametrize("tie_order", ["item", "random"])
def test_load_without_timestamps_rejects_other_orders(tmp_path: Path, tie_order: str) -> None:
    seqs = tmp_path / "Beauty.txt"
    seqs.write_text("1 5 3 9\n2 3 3 4 5 6\n")
    untimed = tmp_path / "untimed.csv"
    untimed.write_text("user,item\n" + "".join(f"{u},{i}\n" for u in range(3) for i in range(4)))
    cases = [
        (lambda: load_dataset("synthetic", tie_order=tie_order, cache=False), "the synthetic"),
        (lambda: load_dataset(seqs, tie_order=tie_order, progress=False), "a sequences file"),
        (
            lambda: load_dataset(
                untimed,
                columns={"user": "user", "item": "item", "timestamp": None},
                tie_order=tie_order,
                progress=False,
            ),
            "untimed.csv has no timestamps",
        ),
    ]
    for call, where in cases:
        with pytest.raises(DatasetError, match="has no timestamps, so there are no ties") as info:
            call()
        assert where in str(info.value) and "\n" not in str(info.value)
    # the default still loads the same data
    assert load_dataset(seqs, cache=False, progress=False).sequences.n_users == 2
