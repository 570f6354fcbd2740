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
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, cast

import numpy as np

from seqrec_bench.data.sequences import Sequences
from seqrec_bench.errors import ConfigError, SeqbenchError

if TYPE_CHECKING:
    from typing import Self

    import torch

    from seqrec_bench.models.space import Param

__all__ = [
    "Model",
    "Validator",
    "ValidationResult",
    "NotFittedError",
    "ConfigError",
    "config_to_dict",
    "config_from_dict",
    "validate_config",
    "resolve_config",
    "parse_overrides",
    "parse_value",
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
        search_space: the config fields ``seqbench tune`` searches, each with its range or
            choices (:class:`~seqrec_bench.models.space.Param`); empty = nothing to tune.
            Checked by :func:`~seqrec_bench.models.space.validate_space`, shown by
            ``seqbench models NAME``.

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
        selection: a choice made on validation over a grid of one config field, or ``None``:
            ``{"field": ..., "value": ..., "grid": [...], "metric": ..., "scores": [...]}``.
            :meth:`fitted_config` applies it; the harness stores both configs.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    config_cls: ClassVar[type[Any]] = _EmptyConfig
    version: ClassVar[int] = 1
    #: How the model builds its training samples from the training sequences, in one phrase for
    #: the protocol card (e.g. "each user's last max_len + 1 items, a loss at every position").
    training_samples: ClassVar[str] = ""
    #: Whether the model reads :attr:`Sequences.times` (the timestamp of every interaction); the
    #: harness then refuses data without timestamps before anything trains.
    needs_timestamps: ClassVar[bool] = False
    #: The searchable config fields and their ranges (``seqbench tune``); see
    #: :mod:`seqrec_bench.models.space`. Sensible ranges, not tuned to any data set.
    search_space: ClassVar[Mapping[str, Param]] = {}

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
            config = config_from_dict(self.config_cls, {**_field_values(config), **overrides})
        # every Python path (a config object, a dict, keyword overrides) is type-checked here
        self.config = validate_config(config)
        self.device: torch.device | str = "cpu"
        self.seed: int = 0
        self.n_items: int = 0
        self.history: list[dict[str, float]] = []
        self.best_epoch: int | None = None
        self.stop_reason: str | None = None
        self.selection: dict[str, Any] | None = None
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
        self.selection = None
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

    def fitted_config(self) -> C:
        """The config the fitted model actually uses: :attr:`config` with :attr:`selection` applied.

        Example:
            >>> from seqrec_bench.data import Sequences
            >>> from seqrec_bench.models import PopularityModel
            >>> model = PopularityModel().fit(Sequences.from_lists([[1, 2]], n_items=2))
            >>> model.fitted_config() == model.config
            True
        """
        if not self.selection:
            return self.config
        chosen = {self.selection["field"]: self.selection["value"]}
        return cast(C, dataclasses.replace(cast(Any, self.config), **chosen))

    def n_parameters(self) -> int:
        """Number of trainable parameters (0 for models without a torch module)."""
        module = getattr(self, "module", None)
        if module is None:
            return 0
        return int(sum(p.numel() for p in module.parameters() if p.requires_grad))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


# -- config helpers ------------------------------------------------------------------------------
def config_fields(config_cls: type) -> list[dataclasses.Field[Any]]:
    """The dataclass fields of a config class."""
    return list(dataclasses.fields(config_cls))


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config as a plain dict (JSON/TOML friendly).

    Fields named in the config class's ``identity_defaults`` (fields added after cells were
    first stored, e.g. ``TrainerConfig.compile``) are left out while they hold that value, so
    that adding them did not change the stored form, or the identity, of any earlier cell.
    """
    out = dataclasses.asdict(config)
    for name, value in getattr(type(config), "identity_defaults", {}).items():
        if name in out and out[name] == value:
            del out[name]
    return out


def _field_values(config: Any) -> dict[str, Any]:
    """The field values of a config, shallow (unlike :func:`dataclasses.asdict`)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def _check_keys(config_cls: type, keys: Iterable[str]) -> None:
    names = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(keys) - set(names))
    if unknown:
        raise ConfigError(
            f"unknown {config_cls.__name__} key(s) {', '.join(unknown)}; "
            f"valid keys: {', '.join(names)}"
        )


def _annotations(config_cls: type) -> dict[str, Any]:
    """Each field's resolved annotation (``Any`` where it cannot be resolved)."""
    try:
        hints = typing.get_type_hints(config_cls)
    except Exception:  # an unresolvable forward reference: check what can be checked
        hints = {}
    return {
        f.name: hints.get(f.name, f.type if not isinstance(f.type, str) else Any)
        for f in dataclasses.fields(config_cls)
    }


_MISMATCH = object()


def _describe(annotation: Any) -> str:
    """``int``, ``float | None``, ``one of 'pre', 'post'``, ``tuple[int, ...]``."""
    if annotation is type(None) or annotation is None:
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_describe(a) for a in args)
    if origin in (tuple, list, dict) and args:
        inner = ", ".join("..." if a is Ellipsis else _describe(a) for a in args)
        return f"{origin.__name__}[{inner}]"
    return getattr(annotation, "__name__", str(annotation))


def _conform(value: Any, annotation: Any) -> Any:
    """``value`` as a valid value of ``annotation`` (ints widened to float, lists to tuples),
    or ``_MISMATCH``. Strict: no string is parsed, ``True`` is not an int, ``1.0`` not an int."""
    if annotation is Any or annotation is object:
        return value
    if annotation is type(None) or annotation is None:
        return None if value is None else _MISMATCH
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        # type-exact: True is not the choice 1, 1.0 is not the choice 1
        ok = any(value == a and type(value) is type(a) for a in args)
        return value if ok else _MISMATCH
    if origin in (typing.Union, types.UnionType):
        exact = [a for a in args if _conform(value, a) is value and not _widens(value, a)]
        for candidate in exact or args:  # an arm that takes the value as is wins
            out = _conform(value, candidate)
            if out is not _MISMATCH:
                return out
        return _MISMATCH
    if annotation is bool:
        return value if isinstance(value, bool) else _MISMATCH
    if annotation is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISMATCH
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _MISMATCH
        return float(value)
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return _MISMATCH
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                return _MISMATCH
            items = [_conform(v, a) for v, a in zip(value, args, strict=True)]
        else:
            elem = args[0] if args else Any
            items = [_conform(v, elem) for v in value]
        if any(item is _MISMATCH for item in items):
            return _MISMATCH
        return tuple(items) if origin is tuple else list(items)
    if origin is dict:
        if not isinstance(value, dict):
            return _MISMATCH
        key_t, value_t = args if args else (Any, Any)
        out = {_conform(k, key_t): _conform(v, value_t) for k, v in value.items()}
        if any(k is _MISMATCH or v is _MISMATCH for k, v in out.items()):
            return _MISMATCH
        return out
    if isinstance(annotation, type):
        return value if isinstance(value, annotation) else _MISMATCH
    return value  # an annotation this checker does not understand: accept


def _widens(value: Any, annotation: Any) -> bool:
    return annotation is float and isinstance(value, int)


def _type_error(config_cls: type, key: str, annotation: Any, value: Any) -> ConfigError:
    return ConfigError(
        f"{config_cls.__name__}.{key} expects {_describe(annotation)}, "
        f"got {value!r} ({type(value).__name__})"
    )


def _conform_values(config_cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` checked strictly against ``config_cls``'s annotations (and normalised)."""
    _check_keys(config_cls, values)
    annotations = _annotations(config_cls)
    out = {}
    for key, value in values.items():
        conformed = _conform(value, annotations[key])
        if conformed is _MISMATCH:
            raise _type_error(config_cls, key, annotations[key], value)
        out[key] = conformed
    return out


def _build(config_cls: type, values: Mapping[str, Any]) -> Any:
    try:
        return config_cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid {config_cls.__name__}: {exc}") from None


def validate_config(config: Any) -> Any:
    """Check every field of a config against its annotation; return the (normalised) config.

    The one type check behind every config path (Python, TOML/JSON dicts, ``--set``). Strict:

    * ``bool`` needs a real bool (not ``"no"``, not ``1``);
    * ``int`` needs an int that is not a bool (``50.0`` is an error);
    * ``float`` takes an int or a float, not a bool; ints are converted to float, so ``lr=1``
      and ``lr=1.0`` give the same stored config;
    * ``Literal[...]`` needs one of its choices; ``X | None`` also takes ``None``;
    * ``tuple[...]`` / ``list[...]`` check their elements (a list for a tuple field, as JSON gives
      back, becomes a tuple).

    The config's own ``__post_init__`` keeps checking ranges.

    Returns:
        ``config`` itself when nothing needed normalising, else an equal copy with the
        normalised values.

    Raises:
        ConfigError: one line naming the class, the field, the expected type and the value, e.g.
            ``TransformerConfig.max_len expects int, got 50.0 (float)``.

    Example:
        >>> from seqrec_bench.models import TransformerConfig
        >>> validate_config(TransformerConfig(lr=1)).lr
        1.0
        >>> validate_config(TransformerConfig(tie_embeddings="no"))
        Traceback (most recent call last):
        ...
        seqrec_bench.errors.ConfigError: TransformerConfig.tie_embeddings expects bool, got 'no' (str)
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ConfigError(f"a config must be a dataclass instance, got {type(config).__name__}")
    values = _field_values(config)
    conformed = _conform_values(type(config), values)
    changed = {
        k: v for k, v in conformed.items() if type(v) is not type(values[k]) or v != values[k]
    }
    return dataclasses.replace(config, **changed) if changed else config


def config_from_dict(config_cls: type, values: Mapping[str, Any]) -> Any:
    """Build a config from typed values (a TOML table, a JSON object, Python keywords).

    Unknown keys are an error listing the valid ones; values are checked strictly by
    :func:`validate_config`'s rules (strings are *not* parsed: a TOML ``tie_embeddings = "no"``
    is an error); missing keys keep the class defaults.

    Raises:
        ConfigError: unknown key, wrong type, or a value the config's ``__post_init__`` rejects.
    """
    return validate_config(_build(config_cls, _conform_values(config_cls, values)))


def parse_value(config_cls: type, key: str, raw: str) -> Any:
    """One ``--set`` string read by the annotation of ``config_cls.key``.

    ``bool``: ``true/false``, ``yes/no``, ``on/off``, ``1/0``; ``int`` and ``float``: numbers
    (``"50.0"`` is not an int); ``X | None``: also ``none``/``null``/empty; ``Literal``: one of
    the choices; tuples and lists: comma-separated elements.

    Raises:
        ConfigError: unknown key, or a string that is not a value of the field's type.
    """
    _check_keys(config_cls, [key])
    annotation = _annotations(config_cls)[key]
    value = _parse(raw, annotation)
    if value is _MISMATCH:
        raise _type_error(config_cls, key, annotation, raw)
    return value


def _parse(raw: str, annotation: Any) -> Any:
    text = raw.strip()
    low = text.lower()
    if annotation is Any or annotation is object or annotation is str:
        return raw
    if annotation is type(None) or annotation is None:
        return None if low in ("none", "null", "") else _MISMATCH
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and low in ("none", "null", ""):
            return None
        for candidate in (a for a in args if a is not type(None)):
            value = _parse(raw, candidate)
            if value is not _MISMATCH:
                return value
        return _MISMATCH
    if origin is typing.Literal:
        for choice in args:
            if text == str(choice) or (isinstance(choice, bool) and _parse(text, bool) is choice):
                return choice
        return _MISMATCH
    if annotation is bool:
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        return _MISMATCH
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            return _MISMATCH
    if annotation is float:
        try:
            return float(text)
        except ValueError:
            return _MISMATCH
    if origin in (tuple, list):
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(parts) != len(args):
                return _MISMATCH
            items = [_parse(p, a) for p, a in zip(parts, args, strict=True)]
        else:
            elem = args[0] if args else str
            items = [_parse(p, elem) for p in parts]
        if any(item is _MISMATCH for item in items):
            return _MISMATCH
        return tuple(items) if origin is tuple else items
    return _MISMATCH  # no string syntax for this annotation


def parse_overrides(config: Any, overrides: Mapping[str, str]) -> Any:
    """Apply ``--set model.key=value`` strings, each read by its field's annotation.

    ``--set transformer.tie_embeddings=no`` means ``False``; see :func:`parse_value` for the
    syntax of each type. The result goes through :func:`config_from_dict`, so it is validated
    like every other config.

    Raises:
        ConfigError: unknown key (listing the valid ones), a string that is not a value of the
            field's type, or a value the config's ``__post_init__`` rejects.
    """
    config_cls = type(config)
    values = _field_values(config)
    for key, raw in overrides.items():
        if not isinstance(raw, str):
            raise ConfigError(
                f"{config_cls.__name__}.{key}: --set values are strings, got {raw!r}; "
                "pass typed values to config_from_dict"
            )
        values[key] = parse_value(config_cls, key, raw)
    return config_from_dict(config_cls, values)


def resolve_config(
    base: Any,
    typed_overrides: Mapping[str, Any] | None = None,
    string_overrides: Mapping[str, str] | None = None,
) -> Any:
    """The one entry point from a default config and a user's overrides to a validated config.

    Args:
        base: a config class (its defaults are the start) or a config instance (e.g.
            ``Model.default_config(dataset_stats)``).
        typed_overrides: values from a TOML/JSON file or Python, applied first and checked
            strictly (no string parsing: ``tie_embeddings = "no"`` is an error).
        string_overrides: ``--set`` values, applied second (so they win over a file's) and
            read by each field's annotation (``tie_embeddings=no`` is ``False``).

    Returns:
        A new config of ``base``'s class, checked by :func:`validate_config` and its
        ``__post_init__``.

    Raises:
        ConfigError: unknown key (listing the valid keys), wrong type, or a bad value; one
            line naming the config class, the field and the value.

    Example:
        >>> from seqrec_bench.models import TransformerConfig
        >>> cfg = resolve_config(TransformerConfig, {"max_len": 20}, {"tie_embeddings": "no"})
        >>> cfg.max_len, cfg.tie_embeddings
        (20, False)
        >>> resolve_config(TransformerConfig, {"max_len": 50.0})
        Traceback (most recent call last):
        ...
        seqrec_bench.errors.ConfigError: TransformerConfig.max_len expects int, got 50.0 (float)
    """
    if isinstance(base, type):
        if not dataclasses.is_dataclass(base):
            raise ConfigError(f"a config class must be a dataclass, got {base.__name__}")
        config_cls, values = base, {}
    else:
        config = validate_config(base)
        config_cls, values = type(config), _field_values(config)
    typed = dict(typed_overrides or {})
    strings = dict(string_overrides or {})
    values.update(_conform_values(config_cls, typed))
    for key, raw in strings.items():
        if not isinstance(raw, str):
            raise ConfigError(
                f"{config_cls.__name__}.{key}: string overrides must be strings, got {raw!r}"
            )
        values[key] = parse_value(config_cls, key, raw)
    return config_from_dict(config_cls, values)


def as_numpy(x: Any) -> np.ndarray:
    """Small helper for tests: a tensor or array as numpy."""
    if hasattr(x, "detach"):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)
