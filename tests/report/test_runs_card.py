"""The protocol card of reports built from stored cells."""

from __future__ import annotations

from seqrec_bench.report.runs import _training_samples
from seqrec_bench.store import CellIdentity, StoredCell


def _cell(model_name):
    ident = CellIdentity("d", model_name, 0, {"model_name": model_name})
    import numpy as np

    return StoredCell(ident, {}, None, np.array([1]))  # type: ignore[arg-type]


def test_the_card_says_how_each_model_builds_its_training_samples():
    groups = {
        "d": {
            "transformer": [_cell("transformer")],
            "markov": [_cell("markov")],
            "x": [_cell("nosuchmodel")],
        }
    }
    text = _training_samples(groups)
    assert "transformer: one window per user of the last max_len + 1 training items" in text
    assert "markov: every pair of consecutive training items" in text
    assert "nosuchmodel: not declared" in text
