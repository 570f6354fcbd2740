"""The model contract every recommender (built-in or plugin) implements.

A model is a class with a short lowercase :attr:`Model.name`, a frozen dataclass config
(:attr:`Model.config_cls`) whose fields all have defaults, a :meth:`Model.fit` on training
sequences and a :meth:`Model.score` that returns a score for **every** item. Models never rank,
mask seen items or compute metrics: the harness does that once, for all models alike.

Score columns follow item ids: column ``j`` holds the score of item ``j + 1`` (item 0 is padding
and has no column), so ``score(batch)`` has shape ``(len(batch), n_items)``.

Example:
    >>> from seqrec_bench.data import Sequences
    >>> from seqrec_bench.models import PopularityModel
    >>> train = Sequences.from_lists([[1, 2], [2, 3], [2]], n_items=3)
    >>> model = PopularityModel().fit(train, seed=0)
    >>> model.score(train).shape
    torch.Size([3, 3])
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np

from seqrec_bench.data.sequences import Sequences
from seqrec_bench.errors import ConfigError, SeqbenchError

if TYPE_CHECKING:
    from typing import Self

    import torch

__all__ = [
    "Model",
    "Validator",
    "ValidationResult",
    "NotFittedError",
    "ConfigError",
    "config_to_dict",
    "config_from_dict",
    "parse_overrides",
    "config_fields",
    "LONG_HISTORY_MEDIAN",
    "median_length",
]

#: Median training-sequence length from which a data set counts as "long history" (MovieLens-like
#: rather than Amazon-like); the neural models pick their per-family defaults by it.
LONG_HISTORY_MEDIAN = 50


def median_length(stats: dict[str, Any] | None) -> float | None:
    """``stats["length"]["median"]`` (PROTOCOL §1 statistics) when present and finite, else ``None``.

    What :meth:`Model.default_config` implementations use to tell long histories from short ones.

    Example:
        >>> median_length({"length": {"median": 65.0}})
        65.0
        >>> median_length(None) is None
        True
    """
    try:
        value = float(stats["length"]["median"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None
    return value if math.isfinite(value) else None


class NotFittedError(SeqbenchError, RuntimeError):
    """Raised when a model is asked to score before :meth:`Model.fit`."""


class ValidationResult(Protocol):
    """What :meth:`Validator.evaluate` returns (e.g. an ``EvaluationResult``)."""

    @property
    def metrics(self) -> Mapping[str, float]:
        """Mean value of each metric label, e.g. ``{"NDCG@10": 0.21}``."""
        ...

    @property
    def seconds(self) -> float:
        """Wall time of the evaluation."""
        ...


class Validator(Protocol):
    """What a model receives in :meth:`Model.fit` to rank the validation targets.

    The harness passes an :class:`~seqrec_bench.evaluation.Evaluator` over the validation split;
    a model (and the trainer) relies only on this interface, so tests and other harnesses can
    pass anything with these two members.
    """

    @property
    def metric_labels(self) -> Sequence[str]:
        """The metrics :meth:`evaluate` computes, e.g. ``["NDCG@10"]``."""
        ...

    def evaluate(self, model: Model[Any]) -> ValidationResult:
        """Rank the validation targets with ``model`` (through ``model.score``)."""
        ...


#: The config type of a :class:`Model` subclass.
C = TypeVar("C")


@dataclasses.dataclass(frozen=True)
class _EmptyConfig:
    """Placeholder config for models without hyper-parameters."""


class Model(ABC, Generic[C]):
    """Base class of every recommender, generic in its config type.

    Subclasses set ``name``, ``description`` and ``config_cls`` and implement :meth:`_fit` and
    :meth:`_score`; ``class MyModel(Model[MyConfig])`` tells type checkers what
    ``self.config`` is. The public :meth:`fit` validates its input, resets state and records the
    seed and device; :meth:`score` refuses to run on an unfitted model (it is allowed while
    :meth:`_fit` runs, for the validator) and checks the output shape.

    Class attributes:
        name: registry key, a short lowercase identifier.
        description: one line, shown by ``seqbench models``.
        config_cls: the frozen dataclass of the hyper-parameters.
        version: bump it when a change to the model alters the numbers a fixed config and seed
            produce (a new random stream, a fixed bug, a different initialisation): the harness
            puts it in each cell's run key, so cells of the old version count as stale instead
            of being averaged with new ones.

    Attributes:
        config: the resolved (frozen) configuration.
        device: the torch device the model scores on (set by :meth:`fit`).
        seed: the seed of the current fit; models build their generators from it (no global
            seeding).
        history: one dict per training epoch (``epoch``, ``loss``, validation metrics,
            ``seconds``) for iterative models; empty for closed-form ones.
        best_epoch: the epoch whose weights were kept (early stopping), or ``None``.
        stop_reason: why training ended (``"patience"``, ``"max_epochs"``, ``"time_budget"``),
            or ``None`` for closed-form models; stored with the run, so a budget-cut run shows.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    config_cls: ClassVar[type[Any]] = _EmptyConfig
    version: ClassVar[int] = 1

    config: C

    def __init__(self, config: Any | None = None, **overrides: Any) -> None:
        if config is None:
            config = self.config_cls()
        elif isinstance(config, dict):
            config = config_from_dict(self.config_cls, config)
        elif not isinstance(config, self.config_cls):
            raise ConfigError(
                f"{type(self).__name__} expects a {self.config_cls.__name__}, "
                f"got {type(config).__name__}"
            )
        if overrides:
            config = config_from_dict(self.config_cls, {**config_to_dict(config), **overrides})
        self.config = config
        self.device: torch.device | str = "cpu"
        self.seed: int = 0
        self.n_items: int = 0
        self.history: list[dict[str, float]] = []
        self.best_epoch: int | None = None
        self.stop_reason: str | None = None
        self._fitted = False
        self._fitting = False

    # -- dataset-dependent defaults -------------------------------------------------------------
    @classmethod
    def default_config(cls, dataset_stats: dict[str, Any] | None = None) -> Any:
        """The default config for a data set (override to adapt to e.g. sequence lengths).

        The harness calls this with the dataset statistics, then applies user overrides on top,
        and prints/stores the result, so dataset-dependent defaults are never hidden.
        """
        return cls.config_cls()

    # -- the contract ---------------------------------------------------------------------------
    def fit(
        self,
        train: Sequences,
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
        validator: Validator | None = None,
    ) -> Self:
        """Fit on the training sequences.

        Args:
            train: training sequences (``s_1 .. s_{n-2}`` of every user).
            seed: seed of this run; the model derives all its randomness from it.
            device: torch device to train and score on.
            validator: evaluates the model on the validation targets (for early stopping and
                model selection); ``validator.evaluate(model).metrics`` holds metrics such as
                ``{"NDCG@10": ...}``. While :meth:`_fit` runs, :meth:`score` is allowed, so the
                validator can rank with the current weights. Models never see the test
                targets.

        Returns:
            ``self``, fitted.
        """
        import torch

        if not isinstance(train, Sequences):
            raise TypeError(f"fit expects Sequences, got {type(train).__name__}")
        if train.n_items <= 0 or len(train.items) == 0:
            raise ValueError("cannot fit on empty training data")
        if len(train.items) and (train.items.min() < 1 or train.items.max() > train.n_items):
            raise ValueError(f"training items must lie in 1..{train.n_items}")
        self.seed = int(seed)
        self.device = torch.device(device)
        self.n_items = train.n_items
        self.history = []
        self.best_epoch = None
        self.stop_reason = None
        self._fitted = False
        self._fitting = True  # the validator may score the model while _fit runs
        try:
            self._fit(train, validator)
        finally:
            self._fitting = False
        self._fitted = True
        return self

    def score(self, batch: Sequences) -> torch.Tensor:
        """Scores of every item for each input sequence.

        Args:
            batch: input sequences (most recent item last).

        Returns:
            A float tensor of shape ``(len(batch), n_items)`` on the model's device; column ``j``
            is item ``j + 1``. Higher is better.
        """
        import torch

        if not (self._fitted or self._fitting):
            raise NotFittedError(f"model {self.name!r} must be fitted before scoring (call fit)")
        if batch.n_items != self.n_items:
            raise ValueError(
                f"batch has {batch.n_items} items but the model was fitted on {self.n_items}"
            )
        with torch.no_grad():
            scores = self._score(batch)
        expected = (batch.n_users, self.n_items)
        if tuple(scores.shape) != expected:
            raise RuntimeError(
                f"model {self.name!r} returned scores of shape {tuple(scores.shape)}, "
                f"expected {expected}"
            )
        return scores

    @abstractmethod
    def _fit(self, train: Sequences, validator: Validator | None) -> None:
        """Fit the model (state reset is the subclass's job: build everything anew here)."""

    @abstractmethod
    def _score(self, batch: Sequences) -> torch.Tensor:
        """Return ``(len(batch), n_items)`` scores on ``self.device``."""

    # -- conveniences ---------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return self._fitted

    def n_parameters(self) -> int:
        """Number of trainable parameters (0 for models without a torch module)."""
        module = getattr(self, "module", None)
        if module is None:
            return 0
        return int(sum(p.numel() for p in module.parameters() if p.requires_grad))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


# -- config helpers ------------------------------------------------------------------------------
def config_fields(config_cls: type) -> list[dataclasses.Field]:
    """The dataclass fields of a config class."""
    return list(dataclasses.fields(config_cls))


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config as a plain dict (JSON/TOML friendly)."""
    return dataclasses.asdict(config)


def config_from_dict(config_cls: type, values: dict[str, Any]) -> Any:
    """Build a config, rejecting unknown keys with the list of valid ones."""
    names = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(
            f"unknown {config_cls.__name__} key(s) {', '.join(unknown)}; valid keys: {', '.join(names)}"
        )
    try:
        return config_cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid {config_cls.__name__}: {exc}") from None


def parse_overrides(config: Any, overrides: dict[str, str]) -> Any:
    """Apply string overrides (from ``--set model.key=value``) converted to each field's type."""
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    values = config_to_dict(config)
    for key, raw in overrides.items():
        if key not in names:
            raise ConfigError(
                f"unknown {type(config).__name__} key {key!r}; valid keys: {', '.join(names)}"
            )
        values[key] = _coerce(raw, hints.get(key, str), key)
    return config_from_dict(type(config), values)


def _coerce(raw: Any, annotation: Any, key: str) -> Any:
    if not isinstance(raw, str):
        return raw
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if raw.lower() in ("none", "null", "") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for candidate in inner:
            try:
                return _coerce(raw, candidate, key)
            except ConfigError:
                continue
        raise ConfigError(f"cannot read {key}={raw!r}")
    if origin is typing.Literal:
        if raw not in args:
            raise ConfigError(f"{key} must be one of {', '.join(map(str, args))}, not {raw!r}")
        return raw
    try:
        if annotation is bool:
            low = raw.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if annotation is int:
            return int(raw)
        if annotation is float:
            return float(raw)
        if origin in (tuple, list):
            elem = args[0] if args else str
            parts = [p for p in raw.split(",") if p.strip()]
            seq = [_coerce(p.strip(), elem, key) for p in parts]
            return tuple(seq) if origin is tuple else seq
    except ValueError:
        raise ConfigError(
            f"{key} expects {getattr(annotation, '__name__', annotation)}, got {raw!r}"
        ) from None
    return raw


def as_numpy(x: Any) -> np.ndarray:
    """Small helper for tests: a tensor or array as numpy."""
    if hasattr(x, "detach"):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)
