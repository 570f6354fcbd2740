"""Preprocessing (PROTOCOL §1): dense ids, stable tie order, iterative k-core, dropped users."""

from __future__ import annotations

import numpy as np
import pytest

from seqrec_bench.data import DatasetError, Interactions, preprocess_interactions


def records(rows: list[tuple], *, ratings: bool = False) -> Interactions:
    """Records from ``(user, item, timestamp[, rating])`` tuples, in this (file) order."""
    cols = list(zip(*rows, strict=True))
    return Interactions(
        users=np.asarray(cols[0]),
        items=np.asarray(cols[1]),
        timestamps=np.asarray(cols[2]),
        ratings=np.asarray(cols[3], dtype=float) if ratings else None,
    )


def test_ties_keep_file_order() -> None:
    # user 1: item 40 at t=5 comes first; 30, 10, 20 all at t=10 keep the order of the file
    out = preprocess_interactions(
        records(
            [(1, 30, 10), (1, 40, 5), (1, 10, 10), (2, 10, 1), (1, 20, 10), (2, 20, 1), (2, 30, 0)]
        )
    )
    raw = out.vocab.item_ids[out.sequences.items - 1]
    assert out.sequences.lengths.tolist() == [4, 3]
    assert raw[:4].tolist() == [40, 30, 10, 20]
    assert raw[4:].tolist() == [30, 10, 20]
    assert out.timestamps.tolist() == [5, 10, 10, 10, 0, 1, 1]


def test_ties_keep_file_order_with_float_and_huge_timestamps() -> None:
    for ts in ([2.5, 1.0, 2.5, 2.5], [10**18, -(10**18), 10**18, 10**18]):
        rows = [(7, item, t) for item, t in zip([3, 1, 4, 2], ts, strict=True)]
        out = preprocess_interactions(records(rows))
        assert out.vocab.item_ids[out.sequences.items - 1].tolist() == [1, 3, 4, 2]


def test_dense_ids_sorted_raw_ids_and_padding() -> None:
    out = preprocess_interactions(
        records([(9, 500, 1), (9, 7, 2), (9, 60, 3), (4, 7, 1), (4, 8, 2), (4, 500, 3)])
    )
    assert out.vocab.user_ids.tolist() == [4, 9]
    assert out.vocab.item_ids.tolist() == [7, 8, 60, 500]
    assert out.sequences.n_items == 4
    assert out.sequences.items.min() == 1  # 0 stays the padding id
    assert out.sequences.to_lists() == [[1, 2, 4], [4, 1, 3]]


def test_short_users_dropped_and_counted() -> None:
    rows = [
        (1, 1, 1),
        (1, 2, 2),
        (1, 3, 3),
        (2, 1, 1),
        (2, 2, 2),
        (3, 4, 1),
        (4, 1, 1),
        (4, 2, 2),
        (4, 3, 3),
    ]
    out = preprocess_interactions(records(rows))
    assert out.vocab.user_ids.tolist() == [1, 4]
    assert out.counts["users_dropped_short"] == 2
    assert out.counts["records_dropped_short"] == 3
    assert out.counts["users_dropped_kcore"] == 0
    # item 4 only belonged to a dropped user: it leaves the catalogue
    assert out.vocab.item_ids.tolist() == [1, 2, 3]


def test_iterative_kcore_hand_worked() -> None:
    # min_user = min_item = 3. Worked by hand:
    #   items a4 b3 c3 d3 e3 f2 -> drop f; then u5 (d e) and u6 (e) have < 3 -> dropped;
    #   now d2 e1 -> drop d, e; then u4 (a) -> dropped; a3 b3 c3 and u1..u3 (a b c) are stable.
    # A single pass would have kept u4 and items d, e.
    seqs = {
        "u1": "abcd",
        "u2": "abc",
        "u3": "abc",
        "u4": "ade",
        "u5": "def",
        "u6": "ef",
    }
    rows = [(u, i, t) for u, s in seqs.items() for t, i in enumerate(s)]
    out = preprocess_interactions(records(rows), min_user_interactions=3, min_item_interactions=3)
    assert out.vocab.user_ids.tolist() == ["u1", "u2", "u3"]
    assert out.vocab.item_ids.tolist() == ["a", "b", "c"]
    assert out.sequences.to_lists() == [[1, 2, 3]] * 3
    assert out.counts["users_dropped_kcore"] == 3
    assert out.counts["records_dropped_kcore"] == 18 - 9
    assert out.counts["users_dropped_short"] == 0
    # the result is a real 3-core
    assert out.sequences.item_counts()[1:].min() >= 3 and out.sequences.lengths.min() >= 3


def test_kcore_with_item_threshold_and_short_rule_interleave() -> None:
    # min_item=2 only. u3 (x y) is short; dropping it leaves x with one record, which the
    # item threshold must then remove too (and u1 keeps 3 items).
    rows = [
        ("u1", "x", 1),
        ("u1", "a", 2),
        ("u1", "b", 3),
        ("u1", "c", 4),
        ("u2", "a", 1),
        ("u2", "b", 2),
        ("u2", "c", 3),
        ("u3", "x", 1),
        ("u3", "y", 2),
    ]
    out = preprocess_interactions(records(rows), min_item_interactions=2)
    assert out.vocab.item_ids.tolist() == ["a", "b", "c"]
    assert out.sequences.to_lists() == [[1, 2, 3], [1, 2, 3]]
    assert out.counts["users_dropped_short"] == 1
    assert out.counts["records_dropped_kcore"] == 2  # y (first pass), then u1's x


def test_min_rating() -> None:
    rows = [
        (1, 1, 1, 5),
        (1, 2, 2, 1),
        (1, 3, 3, 4),
        (1, 4, 4, 4),
        (2, 1, 1, 2),
        (2, 2, 2, 2),
        (2, 3, 3, 2),
    ]
    out = preprocess_interactions(records(rows, ratings=True), min_rating=4)
    assert out.sequences.to_lists() == [[1, 2, 3]]
    assert out.vocab.item_ids.tolist() == [1, 3, 4]
    assert out.counts["records_dropped_rating"] == 4
    assert out.counts["users_dropped_rating"] == 1


def test_counts_add_up() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    recs = Interactions(
        users=rng.integers(0, 400, n),
        items=rng.zipf(1.5, n) % 300,
        timestamps=rng.integers(0, 50, n),
        ratings=rng.integers(1, 6, n).astype(float),
    )
    out = preprocess_interactions(
        recs, min_rating=2, min_user_interactions=5, min_item_interactions=4
    )
    c = out.counts
    assert c["duplicates_found"] == c["duplicates_dropped"] > 0  # random logs repeat triples
    dropped = c["records_dropped_rating"] + c["records_dropped_kcore"] + c["records_dropped_short"]
    assert c["raw_records"] - c["duplicates_dropped"] - dropped == len(out.sequences.items)
    users = c["users_dropped_rating"] + c["users_dropped_kcore"] + c["users_dropped_short"]
    assert c["raw_users"] - users == out.sequences.n_users
    assert out.sequences.lengths.min() >= 5 and out.sequences.item_counts()[1:].min() >= 4
    # sorted by time within each user
    ts, user_of = out.timestamps, out.sequences.user_index()
    same_user = user_of[1:] == user_of[:-1]
    assert (ts[1:][same_user] >= ts[:-1][same_user]).all()


def test_nothing_left_is_an_error() -> None:
    with pytest.raises(DatasetError, match=r"the most any of the 2 users has is 2, in 3 records"):
        preprocess_interactions(records([(1, 1, 1), (1, 2, 2), (2, 1, 1)]))
    with pytest.raises(DatasetError, match="min_user_interactions=5.*relax the filters"):
        preprocess_interactions(
            records([(1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 1, 1)]), min_user_interactions=5
        )
