"""The global temporal split (docs/protocol.md §2b) and the per-interaction timestamps it reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqrec_bench.data import (
    DatasetError,
    GlobalTemporalSplit,
    Sequences,
    load_dataset,
)
from seqrec_bench.data import load as load_module

# The worked example of docs/protocol.md §2b (q = 0.75): users A..E are rows 0..4.
EXAMPLE = [
    [(1, 1), (2, 4), (3, 9), (4, 16), (5, 19)],  # A
    [(2, 2), (3, 6), (6, 12)],  # B
    [(1, 3), (4, 7), (5, 11), (6, 15)],  # C
    [(3, 5), (7, 8), (2, 17), (1, 20)],  # D
    [(5, 10), (6, 13), (7, 14), (3, 15)],  # E
]


def example() -> tuple[Sequences, np.ndarray]:
    seqs = Sequences.from_lists([[i for i, _ in row] for row in EXAMPLE], n_items=7)
    ts = np.array([t for row in EXAMPLE for _, t in row], dtype=np.int64)
    return seqs, ts


def split(**kwargs) -> GlobalTemporalSplit:
    seqs, ts = example()
    return GlobalTemporalSplit.from_sequences(seqs, ts, **{"q": 0.75, **kwargs})


TEST = {
    "last": ([0, 2, 3, 4], [5, 6, 1, 3], [[1, 2, 3, 4], [1, 4, 5], [3, 7, 2], [5, 6, 7]]),
    "first": ([0, 2, 3, 4], [4, 6, 2, 3], [[1, 2, 3], [1, 4, 5], [3, 7], [5, 6, 7]]),
    "all": (
        [0, 0, 2, 3, 3, 4],
        [4, 5, 6, 2, 1, 3],
        [[1, 2, 3], [1, 2, 3, 4], [1, 4, 5], [3, 7], [3, 7, 2], [5, 6, 7]],
    ),
}
VALID = {
    "last": ([1, 2, 4], [6, 5, 7], [[2, 3], [1, 4], [5, 6]]),
    "first": ([1, 2, 4], [6, 5, 6], [[2, 3], [1, 4], [5]]),
    "all": ([1, 2, 4, 4], [6, 5, 6, 7], [[2, 3], [1, 4], [5], [5, 6]]),
}


@pytest.mark.parametrize("target", ["last", "first", "all"])
def test_worked_example_by_time(target: str) -> None:
    s = split(target=target, valid="by_time")
    assert (s.boundary, s.valid_boundary) == (15, 11)
    owner, targets, inputs = TEST[target]
    assert s.test_owner.tolist() == owner
    assert s.test_users.tolist() == [0, 2, 3, 4]
    assert s.test_targets().tolist() == targets
    assert s.test_inputs.to_lists() == inputs
    # fitted on < T_v = 11 only: no refit on [T_v, T)
    assert s.train.to_lists() == [[1, 2, 3], [2, 3], [1, 4], [3, 7], [5]]
    v_owner, v_targets, v_inputs = VALID[target]
    assert s.valid_owner.tolist() == v_owner
    assert s.valid_users.tolist() == [1, 2, 4]
    assert s.valid_targets.tolist() == v_targets
    assert s.valid_inputs.to_lists() == v_inputs
    assert s.n_users == 5 and s.n_items == 7


@pytest.mark.parametrize("target", ["last", "first", "all"])
def test_worked_example_by_users(target: str) -> None:
    s = split(target=target, valid="by_users", valid_share=0.1, seed=0)
    assert s.boundary == 15 and s.valid_boundary is None
    owner, targets, inputs = TEST[target]
    assert s.test_owner.tolist() == owner
    assert s.test_targets().tolist() == targets
    assert s.test_inputs.to_lists() == inputs
    before = [[1, 2, 3], [2, 3, 6], [1, 4, 5], [3, 7], [5, 6, 7]]
    # ceil(0.1 * 5) = 1 held-out user; their last pre-boundary item is the target
    (held,) = s.valid_users.tolist()
    assert s.valid_targets.tolist() == [before[held][-1]]
    assert s.valid_inputs.to_lists() == [before[held][:-1]]
    expected = [row[:-1] if u == held else row for u, row in enumerate(before)]
    assert s.train.to_lists() == expected


def test_by_users_held_out_d_as_in_the_docs() -> None:
    # the docs' illustration: whichever seed holds out D gives exactly the stated lists
    for seed in range(200):
        s = split(valid="by_users", seed=seed)
        if s.valid_users.tolist() == [3]:
            break
    else:
        pytest.fail("no seed holds out D")
    assert s.valid_targets.tolist() == [7]
    assert s.valid_inputs.to_lists() == [[3]]
    assert s.train.to_lists() == [[1, 2, 3], [2, 3, 6], [1, 4, 5], [3], [5, 6, 7]]


def test_random_target_is_seeded_and_among_post_boundary() -> None:
    a = split(target="random", seed=3)
    b = split(target="random", seed=3)
    assert a.test_targets().tolist() == b.test_targets().tolist()
    assert a.valid_targets.tolist() == b.valid_targets.tolist()
    post = {0: [4, 5], 2: [6], 3: [2, 1], 4: [3]}
    seqs, _ = example()
    for u, t, inp in zip(
        a.test_owner.tolist(), a.test_targets().tolist(), a.test_inputs.to_lists(), strict=True
    ):
        assert t in post[u]
        assert inp == seqs[u][: len(inp)].tolist() and seqs[u][len(inp)] == t
    # some seed picks A's first post-boundary item, another its last
    picks = {split(target="random", seed=s).test_targets()[0] for s in range(20)}
    assert picks == {4, 5}


def test_default_quantile_and_explicit_boundary() -> None:
    seqs, ts = example()
    s = GlobalTemporalSplit.from_sequences(seqs, ts)  # q = 0.9: k = 18, t_18 = 17
    assert s.boundary == 17
    s = GlobalTemporalSplit.from_sequences(seqs, ts, boundary=16, valid="by_users")
    assert s.boundary == 16 and s.test_users.tolist() == [0, 3]


def random_data(seed: int) -> tuple[Sequences, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 12, size=60)
    items = rng.integers(1, 30, size=int(lengths.sum()))
    seqs = Sequences.from_lengths(items, lengths, 30)
    ts = rng.integers(0, 50, size=len(items))  # many ties
    user_of = seqs.user_index()
    ts = ts[np.lexsort((ts, user_of))]  # time order within each user
    return seqs, ts


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("target", ["last", "first", "random", "all"])
@pytest.mark.parametrize("valid", ["by_time", "by_users"])
def test_no_target_or_post_boundary_interaction_in_train(
    seed: int, target: str, valid: str
) -> None:
    seqs, ts = random_data(seed)
    s = GlobalTemporalSplit.from_sequences(seqs, ts, q=0.8, target=target, valid=valid, seed=seed)
    fit_bound = s.valid_boundary if valid == "by_time" else s.boundary
    # train is, by construction, a prefix of every row: check its timestamps
    for u in range(seqs.n_users):
        row = s.train[u]
        lo = seqs.offsets[u]
        assert row.tolist() == seqs[u][: len(row)].tolist()
        assert np.all(ts[lo : lo + len(row)] < fit_bound)
        if valid == "by_users" and u in set(s.valid_owner.tolist()):
            # the held-out target is the next item, still before T, and not in train
            assert ts[lo + len(row)] < s.boundary
        else:
            assert len(row) == np.count_nonzero(ts[lo : seqs.offsets[u + 1]] < fit_bound)
    n_train = len(s.train.items)
    assert n_train <= np.count_nonzero(ts < fit_bound)
    # every test input is exactly the history before its target, and the target is >= T
    for u, t, inp in zip(
        s.test_owner.tolist(), s.test_targets().tolist(), s.test_inputs.to_lists(), strict=True
    ):
        lo, hi = seqs.offsets[u], seqs.offsets[u + 1]
        pos = lo + len(inp)
        assert pos < hi and seqs.items[pos] == t and ts[pos] >= s.boundary
        assert inp == seqs.items[lo:pos].tolist()
        assert np.any(ts[lo:hi] < s.boundary)
    for u, t, inp in zip(
        s.valid_owner.tolist(), s.valid_targets.tolist(), s.valid_inputs.to_lists(), strict=True
    ):
        lo = seqs.offsets[u]
        pos = lo + len(inp)
        assert seqs.items[pos] == t and ts[pos] < s.boundary and len(inp) >= 1
        assert inp == seqs.items[lo:pos].tolist()
        if valid == "by_time":
            assert ts[pos] >= s.valid_boundary
    # test users: exactly those with interactions on both sides of T
    both = [
        u
        for u in range(seqs.n_users)
        if np.any(ts[seqs.offsets[u] : seqs.offsets[u + 1]] < s.boundary)
        and np.any(ts[seqs.offsets[u] : seqs.offsets[u + 1]] >= s.boundary)
    ]
    assert s.test_users.tolist() == both
    if target != "all":
        assert s.test_owner.tolist() == both


def test_per_user_mean() -> None:
    s = split(target="all")
    values = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    assert GlobalTemporalSplit.per_user_mean(values, s.test_owner).tolist() == [0.5, 1.0, 0.0, 1.0]


def test_errors_are_one_line() -> None:
    seqs, ts = example()
    cases = [
        (lambda: GlobalTemporalSplit.from_sequences(seqs, None), "has no timestamps"),
        (lambda: split(boundary=100), "T=100 leaves no test users .timestamps range 1..20"),
        (lambda: split(boundary=1), "T=1 leaves no test users"),
        (lambda: split(target="middle"), "unknown gts target 'middle'"),
        (lambda: split(valid="by_magic"), "unknown gts validation"),
        (lambda: split(q=0), r"q must be in \(0, 1\]"),
        (lambda: split(q=1.5), r"q must be in \(0, 1\]"),
        (lambda: split(valid="by_users", valid_share=1), r"valid_share must be in \(0, 1\)"),
        (lambda: split(boundary="soon"), "boundary must be a number"),
        (lambda: GlobalTemporalSplit.from_sequences(seqs, ts[::-1].copy()), "time order"),
        (lambda: GlobalTemporalSplit.from_sequences(seqs, ts[:3]), "3 timestamps for 20"),
    ]
    for call, message in cases:
        with pytest.raises(DatasetError, match=message) as info:
            call()
        assert "\n" not in str(info.value)


def test_synthetic_has_no_timestamps_and_gts_says_so() -> None:
    ds = load_dataset("synthetic", synthetic={"n_users": 50, "seed": 0}, cache=False)
    assert ds.timestamps is None
    with pytest.raises(DatasetError, match="synthetic has no timestamps"):
        GlobalTemporalSplit.from_dataset(ds)


def write_log(path: Path) -> Path:
    rows = [
        (f"u{u}", f"i{(u * 7 + k) % 9}", (k * 13 + u * 5) % 40) for u in range(8) for k in range(6)
    ]
    path.write_text("user,item,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, t in rows))
    return path


def test_timestamps_are_aligned_cached_and_stale_entries_prepared_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_log(tmp_path / "log.csv")
    first = load_dataset(path, progress=False)
    assert first.timestamps is not None and len(first.timestamps) == len(first.sequences.items)
    raw = {}
    for line in path.read_text().splitlines()[1:]:
        u, i, t = line.split(",")
        raw.setdefault(u, []).append((int(t), i))
    for row, user in enumerate(first.vocab.user_ids.tolist()):
        lo, hi = first.sequences.offsets[row], first.sequences.offsets[row + 1]
        got = [
            (int(t), first.vocab.item_ids[i - 1])
            for t, i in zip(first.timestamps[lo:hi], first.sequences[row], strict=True)
        ]
        assert got == sorted(raw[user], key=lambda p: p[0])  # stable: ties keep file order
    key = first.key

    # a cache hit carries the same timestamps
    second = load_dataset(path, progress=False)
    assert np.array_equal(second.timestamps, first.timestamps) and second.key == key

    # an entry stored before timestamps were kept is prepared again, under the same key
    (npz,) = (tmp_path / "seqbench-cache" / "prepared").glob("*.npz")
    with np.load(npz) as arrays:
        old = {k: arrays[k] for k in arrays.files if k != "timestamps"}
    np.savez(npz, **old)
    calls = []
    real = load_module.preprocess_interactions

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(load_module, "preprocess_interactions", counting)
    third = load_dataset(path, progress=False)
    assert calls == [1] and third.key == key
    assert np.array_equal(third.timestamps, first.timestamps)
    with np.load(npz) as arrays:
        assert "timestamps" in arrays.files
    # and the rewritten entry is a plain hit again
    load_dataset(path, progress=False)
    assert calls == [1]
    # data without timestamps stores none, and its cache hit is not stale
    seq_file = tmp_path / "seqs.txt"
    seq_file.write_text(
        "".join(f"u{u} " + " ".join(f"i{(u + k) % 7}" for k in range(4)) + "\n" for u in range(5))
    )
    plain = load_dataset(seq_file, format="sequences", progress=False)
    assert plain.timestamps is None and calls == [1, 1]
    again = load_dataset(seq_file, format="sequences", progress=False)
    assert again.timestamps is None and again.key == plain.key
    assert calls == [1, 1]


def test_from_dataset_matches_from_sequences(tmp_path: Path) -> None:
    ds = load_dataset(write_log(tmp_path / "log.csv"), progress=False, cache=False)
    a = GlobalTemporalSplit.from_dataset(ds, q=0.8)
    b = GlobalTemporalSplit.from_sequences(ds.sequences, ds.timestamps, q=0.8)
    assert a.boundary == b.boundary and a.test_inputs.to_lists() == b.test_inputs.to_lists()
    assert a.test_targets().tolist() == b.test_targets().tolist()
