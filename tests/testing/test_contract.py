"""The contract suite catches the defects it is meant to catch.

Each deliberately broken model below violates one rule; the matching contract check must fail
on it (and a correct model passes, see tests/models/test_contract_builtins.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from seqrec_bench.models import PopularityModel
from seqrec_bench.models.base import Model
from seqrec_bench.testing import ModelContract


@dataclass(frozen=True)
class _Config:
    """No hyper-parameters."""


class _CountModel(Model):
    """A correct base: scores are the training counts (like popularity)."""

    name = "count"
    description = "Training counts."
    config_cls = _Config

    def _fit(self, train, validator):
        self._counts = torch.from_numpy(train.item_counts()[1:].astype(np.float32))

    def _score(self, batch):
        return self._counts.expand(batch.n_users, -1).clone()


class _GlobalRandomModel(_CountModel):
    """Draws noise from the global torch generator instead of one built from its seed."""

    def _fit(self, train, validator):
        super()._fit(train, validator)
        self._counts = self._counts + torch.rand(train.n_items)


class _StaleModel(_CountModel):
    """Keeps a counter across fits, so a refit differs from a fresh fit."""

    def _fit(self, train, validator):
        super()._fit(train, validator)
        self._fits = getattr(self, "_fits", 0) + 1
        self._counts = self._counts + self._fits


class _NoisyScoreModel(_CountModel):
    """Adds fresh noise at every score call (like dropout left on)."""

    def _fit(self, train, validator):
        super()._fit(train, validator)
        self._gen = torch.Generator().manual_seed(self.seed)

    def _score(self, batch):
        return super()._score(batch) + torch.rand(batch.n_users, self.n_items, generator=self._gen)


class _BatchDependentModel(_CountModel):
    """Scores that depend on the padded width of the batch."""

    def _score(self, batch):
        width = batch.padded().shape[1]
        return super()._score(batch) * width


class _NaNColdModel(_CountModel):
    """Divides by the counts: items never seen in training get NaN/inf."""

    def _score(self, batch):
        return 1.0 / super()._score(batch) * 0.0


@dataclass
class _MutableConfig:
    """Not frozen."""

    x: int = 1


class _MutableConfigModel(_CountModel):
    config_cls = _MutableConfig


class _BadNameModel(_CountModel):
    name = "Count Model"


class _NoDescriptionModel(_CountModel):
    description = ""


def contract(model_cls: type[Model], **attrs) -> ModelContract:
    """An instance of the suite for ``model_cls`` (the methods are called directly)."""
    return type("Contract", (ModelContract,), {"model_cls": model_cls, **attrs})()


def test_a_correct_model_passes_every_check():
    suite = contract(_CountModel)
    done = suite_checks(suite)
    assert len(done) >= 15


def suite_checks(suite: ModelContract) -> list[str]:
    done = []
    for name in sorted(dir(suite)):
        if not name.startswith("test_") or name == "test_planted_pattern_is_learned":
            continue
        getattr(suite, name)()  # no check takes a fixture
        done.append(name)
    return done


@pytest.mark.parametrize(
    ("model_cls", "check", "message"),
    [
        (_GlobalRandomModel, "test_same_seed_same_scores", "same seed"),
        (_GlobalRandomModel, "test_fit_leaves_global_random_state_alone", "global torch RNG"),
        (_StaleModel, "test_refit_resets_state", "stale state"),
        (_MutableConfigModel, "test_config_is_a_frozen_dataclass_with_defaults", "frozen"),
        (_BadNameModel, "test_name_is_short_lowercase_identifier", "must match"),
        (_NoDescriptionModel, "test_description_is_not_empty", "description"),
    ],
)
def test_defect_is_caught(model_cls, check, message):
    with pytest.raises(AssertionError, match=message):
        getattr(contract(model_cls), check)()


@pytest.mark.parametrize(
    ("model_cls", "check"),
    [
        (_NoisyScoreModel, "test_scores_are_repeatable"),
        (_BatchDependentModel, "test_scores_do_not_depend_on_the_batch"),
        (_NaNColdModel, "test_fit_returns_self_and_scores_are_finite"),
    ],
)
def test_defect_of_a_fitted_model_is_caught(model_cls, check):
    suite = contract(model_cls)
    with pytest.raises(AssertionError):
        getattr(suite, check)()


def test_the_fitted_model_is_fitted_once_per_class_and_not_shared_with_subclasses():
    fits = []

    class Counting(_CountModel):
        def _fit(self, train, validator):
            fits.append(type(self))
            super()._fit(train, validator)

    suite_cls = type("Contract", (ModelContract,), {"model_cls": Counting})
    first, second = suite_cls(), suite_cls()  # pytest makes one instance per test
    assert first.fitted_model() is second.fitted_model()
    assert len(fits) == 1
    sub = type("Sub", (suite_cls,), {})()
    assert sub.fitted_model() is not first.fitted_model()  # a subclass fits its own
    assert len(fits) == 2
    suite_cls.teardown_class()
    assert first.fitted_model() is not sub.fitted_model() and len(fits) == 3


def test_leak_check_detects_test_items_in_training():
    class LeakyHarness(ModelContract):
        model_cls = _CountModel

        def fit(self, model, split, *, validate=True, seed=None):
            # a harness bug: fitting on the test inputs plus the test targets
            leaked = split.test_inputs.append(split.test_targets())
            return model.fit(leaked, seed=0)

    with pytest.raises(AssertionError, match="_fit received other training data"):
        LeakyHarness().test_fit_never_sees_test_targets()


def test_planted_pattern_check_fails_for_popularity_and_is_skipped_without_threshold():
    with pytest.raises(AssertionError, match="NDCG@10"):
        contract(PopularityModel, min_ndcg=0.5).test_planted_pattern_is_learned()
    with pytest.raises(pytest.skip.Exception):
        contract(PopularityModel).test_planted_pattern_is_learned()


def test_config_overrides_reach_the_model():
    from seqrec_bench.models import MarkovModel

    suite = contract(MarkovModel, config_overrides={"order": 2})
    assert suite.make_model().config.order == 2
    assert suite.make_model(alpha=0.5).config.alpha == 0.5
