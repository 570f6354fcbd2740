"""Shared fixtures: a seeded rng and tiny data sets, so the suite needs no download and no GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqrec_bench.data import LeaveOneOutSplit, Sequences

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (../shared/data is absent)")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def tiny_sequences() -> Sequences:
    """Five users over six items, hand-written so expectations can be worked out by hand."""
    return Sequences.from_lists(
        [
            [1, 2, 3, 4, 5],
            [2, 3, 4, 5, 6],
            [1, 3, 5],
            [6, 5, 4, 3, 2, 1],
            [2, 2, 3, 3, 4],
        ],
        n_items=6,
    )


@pytest.fixture
def tiny_split(tiny_sequences: Sequences) -> LeaveOneOutSplit:
    return LeaveOneOutSplit.from_sequences(tiny_sequences)


@pytest.fixture
def cycle_sequences(rng: np.random.Generator) -> Sequences:
    """200 users walking a fixed cycle over 30 items from random starts: item i -> i+1.

    A sequential model should rank the next item of the cycle first; popularity cannot.
    """
    n_items, seqs = 30, []
    for _ in range(200):
        start = int(rng.integers(n_items))
        length = int(rng.integers(5, 15))
        seqs.append([(start + t) % n_items + 1 for t in range(length)])
    return Sequences.from_lists(seqs, n_items=n_items)
