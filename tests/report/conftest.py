"""Hand-made ranks for the report tests: eight users, three models, values workable by hand."""

from __future__ import annotations

import numpy as np
import pytest

#: SASRec hits every user, mostly at rank 1; GRU4Rec hits 6 of 8; Pop hits nobody.
SASREC = np.array([1, 1, 2, 1, 3, 1, 2, 1])
GRU4REC = np.array([2, 5, 1, 8, 1, 12, 30, 4])
POP = np.array([40, 50, 60, 70, 80, 90, 99, 45])


@pytest.fixture
def ranks() -> dict[str, dict[str, list[np.ndarray]]]:
    return {"ml-1m": {"SASRec": [SASREC], "GRU4Rec": [GRU4REC], "Pop": [POP]}}


@pytest.fixture
def seeded_ranks() -> dict[str, dict[str, list[np.ndarray]]]:
    """Two seeds for the neural models, one for Pop (a deterministic baseline)."""
    return {
        "ml-1m": {
            "SASRec": [SASREC, np.array([2, 1, 1, 4, 1, 11, 2, 1])],
            "GRU4Rec": [GRU4REC, np.array([3, 5, 1, 9, 2, 11, 15, 1])],
            "Pop": [POP],
        }
    }


@pytest.fixture
def two_datasets(ranks) -> dict[str, dict[str, list[np.ndarray]]]:
    """ml-1m as above plus a smaller 'beauty' on which GRU4Rec wins and Pop is missing."""
    return {
        **ranks,
        "beauty": {
            "SASRec": [np.array([3, 12, 1, 20, 6])],
            "GRU4Rec": [np.array([1, 2, 1, 9, 2])],
        },
    }
