"""The contract suite (seqrec_bench.testing) run on every built-in model.

The neural models are imported lazily so this file collects even before their modules exist;
their overrides keep each fit to a few small epochs on the tiny data sets.
"""

from __future__ import annotations

import importlib

import pytest

from seqrec_bench.models import MarkovModel, PopularityModel, RecentPopModel
from seqrec_bench.testing import ModelContract


class TestPopularityContract(ModelContract):
    model_cls = PopularityModel


class TestRecentPopContract(ModelContract):
    model_cls = RecentPopModel


class TestMarkovContract(ModelContract):
    model_cls = MarkovModel
    min_ndcg = 0.9


class TestMarkovOrder2Contract(ModelContract):
    model_cls = MarkovModel
    config_overrides = {"order": 2, "select_on_validation": False}
    min_ndcg = 0.9


def _optional(module: str, attr: str) -> type | None:
    """The class, or ``None`` while its module does not exist (other errors propagate)."""
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise  # a real import error inside the model must fail, not skip
        return None


TransformerModel = _optional("seqrec_bench.models.transformer", "TransformerModel")
GRUModel = _optional("seqrec_bench.models.gru", "GRUModel")

#: Small and short: the contract is about behaviour, not accuracy.
_SMALL_TORCH = {"max_len": 12, "hidden": 16, "batch_size": 32, "max_epochs": 2, "patience": 2}


@pytest.mark.skipif(
    TransformerModel is None, reason="seqrec_bench.models.transformer not written yet"
)
class TestTransformerContract(ModelContract):
    model_cls = TransformerModel
    config_overrides = {**_SMALL_TORCH, "n_blocks": 1, "n_heads": 2}
    planted_overrides = {"max_epochs": 10, "patience": 10, "lr": 5e-3, "dropout": 0.1}
    min_ndcg = 0.7


@pytest.mark.skipif(GRUModel is None, reason="seqrec_bench.models.gru not written yet")
class TestGRUContract(ModelContract):
    model_cls = GRUModel
    config_overrides = dict(_SMALL_TORCH)
    planted_overrides = {"max_epochs": 10, "patience": 10, "lr": 5e-3}
    min_ndcg = 0.7
