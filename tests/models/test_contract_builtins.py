"""The contract suite (seqrec_bench.testing) run on every built-in model.

The neural models are imported lazily so this file collects even before their modules exist;
their overrides keep each fit to a few small epochs on the tiny data sets.
"""

from __future__ import annotations

import importlib

import pytest

from seqrec_bench.models import MarkovModel, PopularityModel
from seqrec_bench.testing import ModelContract


def _builtin(module: str, attr: str) -> type:
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise  # a real import error inside the model must fail, not skip
        pytest.skip(f"{module} does not exist yet", allow_module_level=False)


class TestPopularityContract(ModelContract):
    model_cls = PopularityModel


class TestMarkovContract(ModelContract):
    model_cls = MarkovModel
    min_ndcg = 0.9


class TestMarkovOrder2Contract(ModelContract):
    model_cls = MarkovModel
    config_overrides = {"order": 2, "select_on_validation": False}
    min_ndcg = 0.9
