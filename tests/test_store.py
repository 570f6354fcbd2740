"""The results store: atomic durable writes, torn files, the folder lock, identities."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from seqrec_bench import store as store_mod
from seqrec_bench.errors import FolderLockedError
from seqrec_bench.store import CellIdentity, Problem, ResultsDir, StoredCell, atomic_write_text

FIELDS = {
    "dataset_key": "k1",
    "data_format": 1,
    "split": "leave-one-out",
    "protocol": "full",
    "exclude_seen": True,
    "ranking": 2,
    "model_name": "markov",
    "model_version": 1,
    "config": {"alpha": 0.01, "order": 1},
    "device_type": "cpu",
}


def identity(seed=0, label="markov", **changes):
    fields = {**FIELDS, **changes}
    return CellIdentity("synthetic", label, seed, fields)


def record(ident, users=3):
    return {
        "dataset": ident.dataset,
        "model": ident.label,
        "seed": ident.seed,
        **ident.fields,
        "users": users,
    }


def test_variant_ignores_the_seed_and_run_key_does_not():
    a, b = identity(0), identity(1)
    assert a.variant == b.variant and a.run_key != b.run_key
    changed = identity(0, config={"alpha": 5.0, "order": 1})
    assert changed.variant != a.variant
    assert a.relpath() != changed.relpath()  # another config never overwrites a cell
    for field in (
        "protocol",
        "device_type",
        "model_version",
        "data_format",
        "dataset_key",
        "ranking",
    ):
        assert identity(0, **{field: "x"}).variant != a.variant, field


def test_write_then_read_back(tmp_path):
    rd = ResultsDir(tmp_path)
    ident = identity(0)
    rd.write_cell(ident, record(ident), np.array([1, 2, 3]))
    found = rd.find(ident)
    assert isinstance(found, StoredCell)
    assert found.ranks.tolist() == [1, 2, 3] and found.identity.run_key == ident.run_key
    assert rd.find(identity(1)) is None


@pytest.mark.parametrize(
    "damage,reason",
    [
        (lambda d: (d / "cell.json").write_text(""), "unreadable"),
        (lambda d: (d / "cell.json").write_text('{"dataset": "x"}'), "not a cell record"),
        (lambda d: (d / "ranks.npz").write_bytes(b"PK\x03\x04 torn"), "unreadable"),
        (lambda d: (d / "ranks.npz").unlink(), "missing"),
    ],
)
def test_a_torn_cell_is_a_problem_not_a_crash(tmp_path, damage, reason):
    rd = ResultsDir(tmp_path)
    good, torn = identity(0), identity(1)
    rd.write_cell(good, record(good), np.array([1, 2, 3]))
    folder = rd.write_cell(torn, record(torn), np.array([4, 5, 6]))
    damage(folder)
    cells, problems = rd.scan()
    assert [c.seed for c in cells] == [0]
    assert len(problems) == 1 and reason in problems[0].reason
    assert str(folder) in str(problems[0].path)
    assert isinstance(rd.find(torn), Problem)
    rd.write_cell(torn, record(torn), np.array([4, 5, 6]))  # a rerun replaces it
    assert [c.seed for c in rd.scan()[0]] == [0, 1]


def test_ranks_that_do_not_match_the_record_are_a_problem(tmp_path):
    rd = ResultsDir(tmp_path)
    ident = identity(0)
    rd.write_cell(ident, record(ident, users=5), np.array([1, 2, 3]))
    assert "3 ranks" in rd.scan()[1][0].reason


def test_atomic_writes_fsync_the_file_and_its_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}") if os.path.exists("/proc") else None)
        real(fd)

    monkeypatch.setattr(store_mod.os, "fsync", spy)
    atomic_write_text(tmp_path / "table.md", "x")
    assert len(synced) == 2
    if synced[0] is not None:
        assert synced == [False, True]  # the file, then the folder holding the rename


def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "cell.json"
    atomic_write_text(target, "old")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(store_mod.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell.json"]


def test_legacy_layout_cells_are_read(tmp_path):
    """Folders written before cells were addressed by config: cells/<ds>/<label>/seed-<s>."""
    rd = ResultsDir(tmp_path)
    ident = identity(2, ranking=1)  # before PROTOCOL §3 was corrected
    legacy = tmp_path / "cells" / "synthetic" / "markov" / "seed-2"
    legacy.mkdir(parents=True)
    rec = record(ident)
    for key in ("model_version", "data_format", "split", "device_type", "ranking"):
        rec.pop(key)
    rec["device"] = "cpu"
    store_mod.atomic_write_json(legacy / "cell.json", rec)
    np.savez_compressed(legacy / "ranks.npz", ranks=np.array([1, 1, 2], dtype=np.int32))
    cells, problems = rd.scan()
    assert not problems and cells[0].identity.variant == ident.variant
    found = rd.find(ident)
    assert isinstance(found, StoredCell) and found.path == legacy
    assert rd.find(identity(2, ranking=1, config={"alpha": 1.0, "order": 1})) is None
    assert rd.find(identity(2)) is None  # the corrected ranking rule is another experiment


def test_lock_names_its_holder_and_a_second_writer_waits(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from seqrec_bench.store import ResultsDir
                with ResultsDir({str(tmp_path)!r}).lock():
                    print("locked", flush=True)
                    time.sleep(1.0)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        rd = ResultsDir(tmp_path)
        with pytest.raises(FolderLockedError, match=f"process {holder.pid}"):
            with rd.lock(wait=False):
                pass
        said: list[str] = []
        t0 = time.perf_counter()
        with rd.lock(on_wait=said.append, poll=0.05):
            waited = time.perf_counter() - t0
        assert waited > 0.3 and len(said) == 1 and str(holder.pid) in said[0]
    finally:
        holder.wait(timeout=30)


def test_the_lock_goes_away_with_a_killed_holder(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import time\nfrom seqrec_bench.store import ResultsDir\n"
            f"with ResultsDir({str(tmp_path)!r}).lock():\n    print('locked', flush=True)\n"
            "    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait(timeout=30)
    with ResultsDir(tmp_path).lock(wait=False):
        pass
