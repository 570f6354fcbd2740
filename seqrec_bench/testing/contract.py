"""The model contract as a reusable pytest suite.

A plugin (or built-in) model gets the whole suite with one line::

    from seqrec_bench.testing import ModelContract
    from my_plugin import MyModel

    class TestMyModel(ModelContract):
        model_cls = MyModel
        config_overrides = {"max_epochs": 2, "hidden": 8}  # keep the suite fast
        min_ndcg = 0.3  # optional: NDCG@10 to reach on the planted-pattern data

Every check builds its own tiny data set (:mod:`seqrec_bench.testing.data`), so no fixtures
from seqrec_bench's own ``conftest.py`` are needed. ``ModelContract`` does not start with
``Test``, so pytest collects only the subclasses.

The read-only checks share one fitted model per test class: :meth:`ModelContract.fitted_model`
fits it on first use and caches it on the (concrete) class; the ``fitted`` fixture returns the
same pair for a subclass's own tests. (No class-scoped fixture method: pytest 9.1 deprecates
those and pytest 10 removes them.)
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar, cast

import numpy as np
import pytest
import torch

from seqrec_bench.data.sequences import Sequences
from seqrec_bench.data.split import LeaveOneOutSplit
from seqrec_bench.evaluation.evaluator import Evaluator
from seqrec_bench.models.base import (
    Model,
    NotFittedError,
    Validator,
    config_from_dict,
    config_to_dict,
)
from seqrec_bench.registry import MODEL_NAME_PATTERN, validate_model_class
from seqrec_bench.testing.data import (
    cycle_sequences,
    leak_probe_sequences,
    random_sequences,
    sequence_stats,
)

__all__ = ["ModelContract"]

#: Tolerance for "the same user gets the same scores in any batch": padding to a different
#: width may change float summation order, nothing more.
_BATCH_RTOL, _BATCH_ATOL = 1e-4, 1e-5


class ModelContract:
    """Base class of a model's contract tests; subclass it and set :attr:`model_cls`.

    Attributes:
        model_cls: the model class under test.
        config_overrides: config values used for every fit (small sizes, few epochs); the
            default-construction check still uses the plain defaults.
        min_ndcg: NDCG@10 the model must reach on the planted-pattern (cycle) data set, or
            ``None`` to skip that check.
        planted_overrides: extra overrides for the planted-pattern fit only (e.g. more epochs).
        seed: seed of every fit.
        device: device of every fit.
    """

    model_cls: ClassVar[type[Model]]
    config_overrides: ClassVar[dict[str, Any]] = {}
    min_ndcg: ClassVar[float | None] = None
    planted_overrides: ClassVar[dict[str, Any]] = {}
    seed: ClassVar[int] = 0
    device: ClassVar[str] = "cpu"

    # -- helpers a subclass may use or override -------------------------------------------------
    def make_model(self, **overrides: Any) -> Model[Any]:
        """A fresh model with :attr:`config_overrides` (and ``overrides``) applied."""
        return self.model_cls(**{**self.config_overrides, **overrides})

    def fit(
        self,
        model: Model[Any],
        split: LeaveOneOutSplit,
        *,
        validate: bool = True,
        seed: int | None = None,
    ) -> Model[Any]:
        """Fit ``model`` on ``split.train`` the way the harness does (validator on NDCG@10)."""
        validator = (
            Evaluator(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])
            if validate
            else None
        )
        return model.fit(
            split.train,
            seed=self.seed if seed is None else seed,
            device=self.device,
            validator=validator,
        )

    @staticmethod
    def tiny_split() -> LeaveOneOutSplit:
        """The default tiny data set: common items, per-user unique test items, cold items."""
        return LeaveOneOutSplit.from_sequences(_timed(leak_probe_sequences(seed=7)))

    def fitted_model(self) -> tuple[Model[Any], LeaveOneOutSplit]:
        """One model fitted on :meth:`tiny_split`, shared by the read-only checks.

        Fitted on first use and cached on the concrete test class (a subclass fits its own),
        so a suite fits it once however many checks read it; the checks must not modify it.
        """
        cls = type(self)
        cached = cls.__dict__.get("_contract_fitted")
        if cached is None:
            split = self.tiny_split()
            cached = (self.fit(self.make_model(), split), split)
            cls._contract_fitted = cached  # type: ignore[attr-defined]
        return cast("tuple[Model[Any], LeaveOneOutSplit]", cached)

    @classmethod
    def teardown_class(cls) -> None:
        """Drop the cached fitted model when the class's tests are done."""
        if "_contract_fitted" in cls.__dict__:
            delattr(cls, "_contract_fitted")

    @pytest.fixture
    def fitted(self) -> tuple[Model[Any], LeaveOneOutSplit]:
        """:meth:`fitted_model` as a fixture, for a subclass's own read-only tests."""
        return self.fitted_model()

    # -- identity -------------------------------------------------------------------------------
    def test_name_is_short_lowercase_identifier(self) -> None:
        name = self.model_cls.name
        assert isinstance(name, str) and MODEL_NAME_PATTERN.fullmatch(name), (
            f"name {name!r} must match {MODEL_NAME_PATTERN.pattern}"
        )

    def test_description_is_not_empty(self) -> None:
        description = self.model_cls.description
        assert isinstance(description, str) and description.strip(), "set a one-line description"

    def test_registry_accepts_the_class(self) -> None:
        # the same checks the registry applies to a plugin's entry point
        validate_model_class(self.model_cls, expected_name=self.model_cls.name)

    # -- configuration --------------------------------------------------------------------------
    def test_config_is_a_frozen_dataclass_with_defaults(self) -> None:
        config_cls = self.model_cls.config_cls
        assert dataclasses.is_dataclass(config_cls), "config_cls must be a dataclass"
        config: Any = config_cls()  # every field has a default
        try:
            config._contract_probe = 1
        except dataclasses.FrozenInstanceError:
            pass
        else:
            raise AssertionError("config_cls must be frozen (@dataclass(frozen=True))")
        for f in dataclasses.fields(config_cls):
            has_default = f.default is not dataclasses.MISSING
            assert has_default or f.default_factory is not dataclasses.MISSING, f.name

    def test_search_space_is_valid(self) -> None:
        # `seqbench tune` searches these fields: each must be a config field, its range not
        # empty, its values of the field's type and accepted by the config
        from seqrec_bench.models.space import validate_space

        validate_space(
            self.model_cls.name,
            self.model_cls.config_cls,
            dict(getattr(self.model_cls, "search_space", {}) or {}),
        )

    def test_default_construction(self) -> None:
        model = self.model_cls()
        assert model.config == self.model_cls.config_cls()
        assert not model.is_fitted

    def test_default_config_for_dataset_stats(self) -> None:
        for stats in (None, {}, sequence_stats(random_sequences(seed=3))):
            config = self.model_cls.default_config(stats)
            assert isinstance(config, self.model_cls.config_cls), (
                f"default_config({stats!r}) must return a {self.model_cls.config_cls.__name__}"
            )

    def test_config_round_trips_through_dict_and_json(self) -> None:
        for model in (self.model_cls(), self.make_model()):
            config = model.config
            as_dict = config_to_dict(config)
            assert config_from_dict(type(config), as_dict) == config
            assert self.model_cls(as_dict).config == config
            # run manifests store configs as JSON; tuples come back as lists, hence the
            # comparison of the re-serialised text
            text = json.dumps(as_dict, sort_keys=True)
            again = config_from_dict(type(config), json.loads(text))
            assert json.dumps(config_to_dict(again), sort_keys=True) == text

    # -- fit and score --------------------------------------------------------------------------
    def test_score_before_fit_raises(self) -> None:
        split = self.tiny_split()
        with pytest.raises(NotFittedError):
            self.make_model().score(split.valid_inputs)

    def test_fit_returns_self_and_scores_are_finite(self) -> None:
        model, split = self.fitted_model()
        assert model.is_fitted
        for inputs in (split.valid_inputs, split.test_inputs):
            scores = model.score(inputs)
            assert isinstance(scores, torch.Tensor)
            assert tuple(scores.shape) == (inputs.n_users, split.n_items)
            assert scores.is_floating_point()
            assert bool(torch.isfinite(scores).all()), "scores must be finite (cold items too)"

    def test_fit_without_validator(self) -> None:
        split = self.tiny_split()
        model = self.fit(self.make_model(), split, validate=False)
        scores = model.score(split.test_inputs)
        assert tuple(scores.shape) == (split.n_users, split.n_items)
        assert bool(torch.isfinite(scores).all())

    def test_scores_are_repeatable(self) -> None:
        # e.g. a torch module left in training mode would apply dropout while scoring
        model, split = self.fitted_model()
        first = model.score(split.test_inputs).cpu()
        assert torch.equal(first, model.score(split.test_inputs).cpu())

    def test_scores_do_not_depend_on_the_batch(self) -> None:
        # the evaluator scores users in batches of any size; ranks must not depend on it
        model, split = self.fitted_model()
        inputs = split.test_inputs
        full = model.score(inputs).cpu()
        lengths = inputs.lengths
        rows = np.unique([int(np.argmin(lengths)), int(np.argmax(lengths)), 0, len(lengths) - 1])
        for row in rows:
            alone = model.score(inputs.select(np.array([row]))).cpu()
            torch.testing.assert_close(alone[0], full[row], rtol=_BATCH_RTOL, atol=_BATCH_ATOL)
        reverse = np.arange(len(lengths))[::-1].copy()
        torch.testing.assert_close(
            model.score(inputs.select(reverse)).cpu(),
            full[torch.from_numpy(reverse)],
            rtol=_BATCH_RTOL,
            atol=_BATCH_ATOL,
        )

    # -- randomness -----------------------------------------------------------------------------
    def test_same_seed_same_scores(self) -> None:
        split = self.tiny_split()
        scores = []
        for global_seed in (1, 2):
            # a different global RNG state for each fit: only the model's own seed may matter
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(global_seed)
                state = np.random.get_state()  # noqa: NPY002 - the global state is what we check
                np.random.seed(global_seed)  # noqa: NPY002
                try:
                    model = self.fit(self.make_model(), split)
                finally:
                    np.random.set_state(state)  # noqa: NPY002
            scores.append(model.score(split.test_inputs).cpu())
        assert torch.equal(scores[0], scores[1]), "same seed must give the same scores"

    def test_fit_leaves_global_random_state_alone(self) -> None:
        # models derive generators from their seed; they never (re)seed or draw from the
        # global torch / numpy generators, which belong to the caller
        split = self.tiny_split()
        torch_state = torch.random.get_rng_state()
        numpy_state: Any = np.random.get_state()  # noqa: NPY002 - the global state is what we check
        self.fit(self.make_model(), split)
        assert torch.equal(torch.random.get_rng_state(), torch_state), "global torch RNG changed"
        after: Any = np.random.get_state()  # noqa: NPY002 - the global state is what we check
        assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1]), (
            "global numpy RNG changed"
        )
        assert after[2:] == numpy_state[2:], "global numpy RNG changed"

    def test_refit_resets_state(self) -> None:
        first = self.tiny_split()
        second = LeaveOneOutSplit.from_sequences(_timed(random_sequences(24, 20, seed=11)))
        assert second.n_items != first.n_items
        refitted = self.fit(self.make_model(), first)
        self.fit(refitted, second)
        fresh = self.fit(self.make_model(), second)
        scores = refitted.score(second.test_inputs).cpu()
        assert tuple(scores.shape) == (second.n_users, second.n_items)
        assert torch.equal(scores, fresh.score(second.test_inputs).cpu()), (
            "a refit must give the same scores as a fresh model (stale state survived fit)"
        )

    # -- protocol -------------------------------------------------------------------------------
    def test_fit_never_sees_test_targets(self) -> None:
        sequences = _timed(leak_probe_sequences(seed=7))
        split = LeaveOneOutSplit.from_sequences(sequences)
        test_items = set(sequences.last(1).tolist())
        model = self.make_model()
        seen: dict[str, Any] = {}
        original = model._fit

        def recording_fit(train: Sequences, validator: Validator | None) -> None:
            seen["train"], seen["validator"] = train, validator
            original(train, validator)

        model._fit = recording_fit  # type: ignore[method-assign]
        self.fit(model, split)
        train, validator = seen["train"], seen["validator"]
        assert train.to_lists() == split.train.to_lists(), "_fit received other training data"
        assert not test_items & set(train.items.tolist()), "_fit received a test target"
        if validator is not None:
            assert not test_items & set(validator.inputs.items.tolist())
            assert not test_items & set(np.asarray(validator.targets).tolist())

    def test_planted_pattern_is_learned(self) -> None:
        if self.min_ndcg is None:
            pytest.skip("set min_ndcg to check the planted-pattern NDCG@10")
        split = LeaveOneOutSplit.from_sequences(_timed(cycle_sequences(seed=3)))
        model = self.fit(self.make_model(**self.planted_overrides), split)
        test = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
        value = test.evaluate(model).metrics["NDCG@10"]
        assert value >= self.min_ndcg, f"NDCG@10 = {value:.3f} < {self.min_ndcg} on cycle data"


def _timed(seqs: Sequences) -> Sequences:
    """``seqs`` with a timestamp per interaction (hourly, in row order), so time-aware models
    (``needs_timestamps``) run the same contract; other models never look at it."""
    return seqs.with_times(np.arange(len(seqs.items), dtype=np.int64) * 3600)
