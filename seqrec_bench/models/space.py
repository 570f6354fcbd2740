"""Search spaces: which config fields ``seqbench tune`` may search, over what ranges.

A model declares its space beside its config, as a class attribute mapping field names to
:class:`Param` values::

    class GRUModel(TorchSequenceModel[GRUConfig]):
        search_space = {
            "lr": Param.float(1e-4, 1e-2, log=True),
            "hidden": Param.choice(32, 64, 128),
            "dropout": Param.float(0.0, 0.5),
        }

A space is plain data (no Optuna here): :func:`validate_space` checks it against the config
(unknown field, empty range, a value of the wrong type, a value the config rejects: one
:class:`~seqrec_bench.errors.ConfigError` naming the model and the field), and
:func:`space_from_table` reads the ``[tune.MODEL]`` tables of a TOML file that narrow or
replace a declared space. A model with an empty space (popularity) has nothing to tune.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from seqrec_bench.errors import ConfigError
from seqrec_bench.models.base import _MISMATCH, _annotations, _conform, _describe, config_from_dict

__all__ = [
    "Param",
    "SearchSpace",
    "validate_space",
    "space_from_table",
    "space_to_dict",
    "describe_param",
    "describe_space",
    "space_size",
]


@dataclass(frozen=True)
class Param:
    """One searchable config field.

    Attributes:
        kind: ``"float"`` (a range, optionally on a log scale), ``"int"`` (an integer range)
            or ``"choice"`` (a list of values: sizes, losses, booleans).
        low: the smallest value of a range (inclusive).
        high: the largest value of a range (inclusive).
        log: sample a range on a log scale (learning rates); needs ``low > 0``.
        choices: the values of a ``choice``.

    Example:
        >>> Param.float(1e-4, 1e-2, log=True)
        Param(kind='float', low=0.0001, high=0.01, log=True, choices=())
        >>> describe_param(Param.choice(32, 64))
        '{32, 64}'
    """

    kind: Literal["float", "int", "choice"]
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @classmethod
    def float(cls, low: float, high: float, *, log: bool = False) -> Param:
        """A real range ``[low, high]`` (log scale with ``log=True``)."""
        return cls("float", low, high, log)

    @classmethod
    def int(cls, low: int, high: int, *, log: bool = False) -> Param:
        """An integer range ``[low, high]``."""
        return cls("int", low, high, log)

    @classmethod
    def choice(cls, *choices: Any) -> Param:
        """One of ``choices`` (numbers, strings, booleans or ``None``)."""
        return cls("choice", choices=tuple(choices))


#: A model's search space: config field name -> :class:`Param`.
SearchSpace = Mapping[str, Param]


def describe_param(p: Param) -> str:
    """``log[0.0001, 0.01]``, ``[0, 0.5]``, ``int[1, 3]`` or ``{32, 64, 128}``."""
    if p.kind == "choice":
        return "{" + ", ".join(_short(c) for c in p.choices) + "}"
    scale = "log" if p.log else ("int" if p.kind == "int" else "")
    return f"{scale}[{_short(p.low)}, {_short(p.high)}]"


def _short(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def describe_space(space: SearchSpace) -> str:
    """One line: ``lr log[0.0001, 0.01], hidden {32, 64, 128}`` (``nothing to tune`` if empty)."""
    if not space:
        return "nothing to tune"
    return ", ".join(f"{name} {describe_param(p)}" for name, p in space.items())


def space_size(space: SearchSpace) -> str:
    """How big a space is, in words: ``8 configurations`` or ``2 continuous x 36 discrete``.

    Integer ranges count as discrete (``high - low + 1`` values).

    Example:
        >>> space_size({"order": Param.choice(1, 2), "alpha": Param.choice(0.1, 1.0)})
        '4 configurations'
        >>> space_size({"lr": Param.float(1e-4, 1e-2, log=True), "n": Param.int(1, 3)})
        '1 continuous x 3 discrete configurations'
        >>> space_size({})
        '1 configuration'
    """
    if not space:
        return "1 configuration"
    continuous = sum(p.kind == "float" for p in space.values())
    discrete = 1
    for p in space.values():
        if p.kind == "choice":
            discrete *= len(p.choices)
        elif p.kind == "int":
            discrete *= int(p.high) - int(p.low) + 1  # type: ignore[arg-type]
    if continuous:
        return f"{continuous} continuous x {discrete} discrete configurations"
    return f"{discrete} configurations"


def space_to_dict(space: SearchSpace) -> dict[str, dict[str, Any]]:
    """A space as plain JSON (stored in a tuning folder's ``tuning.json``)."""
    out: dict[str, dict[str, Any]] = {}
    for name, p in space.items():
        if p.kind == "choice":
            out[name] = {"choices": list(p.choices)}
        else:
            out[name] = {"kind": p.kind, "low": p.low, "high": p.high, "log": p.log}
    return out


def validate_space(model_name: str, config_cls: type, space: SearchSpace, base: Any = None) -> None:
    """Check a search space against its model's config.

    Every field must be a field of ``config_cls``; a ``float`` range needs a ``float`` field,
    an ``int`` range an ``int`` field; a range must not be empty (``low <= high``, ``low > 0``
    on a log scale) and a choice must have values; every end point and choice must be a value
    the config accepts (its annotation and its ``__post_init__``, on top of ``base``).

    Raises:
        ConfigError: one line naming the model and the field, e.g. ``search space of 'gru':
            dropout: empty range [0.5, 0.1] (low > high)``.
    """
    if not isinstance(space, Mapping):
        raise ConfigError(
            f"search space of {model_name!r} must be a mapping of field names to Param, "
            f"got {type(space).__name__}"
        )
    names = [f.name for f in dataclasses.fields(config_cls)]
    annotations = _annotations(config_cls)
    base = base if base is not None else config_cls()
    values = {f: getattr(base, f) for f in names}

    def bad(field: str, why: str) -> ConfigError:
        return ConfigError(f"search space of {model_name!r}: {field}: {why}")

    for field, p in space.items():
        if field not in names:
            raise ConfigError(
                f"search space of {model_name!r} names unknown field {field!r}; "
                f"{config_cls.__name__} fields: {', '.join(names)}"
            )
        if not isinstance(p, Param):
            raise bad(field, f"expects a Param (float, int or choice), got {p!r}")
        annotation = annotations[field]
        if p.kind == "choice":
            if not p.choices:
                raise bad(field, "empty choice (no values)")
            candidates = list(p.choices)
        elif p.kind in ("float", "int"):
            for end in (p.low, p.high):
                ok = (
                    isinstance(end, (int, float))
                    and not isinstance(end, bool)
                    and (p.kind == "float" or isinstance(end, int))
                    and math.isfinite(end)
                )
                if not ok:
                    raise bad(field, f"a {p.kind} range needs {p.kind} end points, got {end!r}")
            assert p.low is not None and p.high is not None
            if p.low > p.high:
                raise bad(field, f"empty range [{_short(p.low)}, {_short(p.high)}] (low > high)")
            if p.log and p.low <= 0:
                raise bad(field, f"a log range needs low > 0, got {_short(p.low)}")
            takes_float = _conform(0.5, annotation) is not _MISMATCH
            takes_int = _conform(1, annotation) is not _MISMATCH
            if not (takes_float if p.kind == "float" else takes_int and not takes_float):
                raise bad(
                    field,
                    f"a {p.kind} range does not fit the field's type ({_describe(annotation)}); "
                    "use a choice",
                )
            candidates = [p.low, p.high]
        else:
            raise bad(field, f"unknown kind {p.kind!r} (float, int or choice)")
        for value in candidates:
            if _conform(value, annotation) is _MISMATCH:
                raise bad(
                    field,
                    f"{value!r} ({type(value).__name__}) is not a value of {_describe(annotation)}",
                )
            try:
                config_from_dict(config_cls, {**values, field: value})
            except ConfigError as exc:
                raise bad(field, f"{value!r} is rejected by the config ({exc})") from None


def space_from_table(
    declared: SearchSpace, table: Mapping[str, Any], *, origin: str = "[tune]"
) -> dict[str, Param]:
    """A space narrowed or replaced by a TOML ``[tune.MODEL]`` table.

    Each key names a field: ``{ low = 1e-4, high = 1e-3, log = true }`` (a float range; ints
    give an int range), ``{ choices = [32, 64] }`` or a list (a choice). The named fields
    replace the declared ones and the others are kept, unless ``replace = true`` (only the
    table's fields are searched); ``exclude = ["dropout"]`` takes declared fields out.

    Example:
        >>> declared = {"lr": Param.float(1e-4, 1e-2, log=True), "hidden": Param.choice(32, 64)}
        >>> sorted(space_from_table(declared, {"hidden": [64], "exclude": ["lr"]}))
        ['hidden']

    Raises:
        ConfigError: a malformed entry (naming ``origin`` and the field).
    """
    table = dict(table)
    replace = table.pop("replace", False)
    exclude = table.pop("exclude", [])
    if not isinstance(replace, bool):
        raise ConfigError(f"{origin}: replace expects true or false, got {replace!r}")
    if not isinstance(exclude, list) or not all(isinstance(e, str) for e in exclude):
        raise ConfigError(f"{origin}: exclude expects a list of field names, got {exclude!r}")
    unknown = [e for e in exclude if e not in declared]
    if unknown:
        raise ConfigError(
            f"{origin}: exclude names {', '.join(unknown)}, not in the declared space "
            f"({', '.join(declared) or 'empty'})"
        )
    space: dict[str, Param] = (
        {} if replace else {k: v for k, v in declared.items() if k not in exclude}
    )
    for field, entry in table.items():
        if isinstance(entry, list):
            space[field] = Param.choice(*entry)
        elif isinstance(entry, dict):
            keys = set(entry)
            if keys == {"choices"} and isinstance(entry["choices"], list):
                space[field] = Param.choice(*entry["choices"])
            elif {"low", "high"} <= keys <= {"low", "high", "log"}:
                low, high, log = entry["low"], entry["high"], entry.get("log", False)
                if not isinstance(log, bool):
                    raise ConfigError(f"{origin}: {field}.log expects true or false, got {log!r}")
                both_int = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
                space[field] = Param("int" if both_int else "float", low, high, log)
            else:
                raise ConfigError(
                    f"{origin}: {field} expects {{ low = .., high = .. [, log = true] }}, "
                    f"{{ choices = [..] }} or a list, got {entry!r}"
                )
        else:
            raise ConfigError(
                f"{origin}: {field} expects a range {{ low = .., high = .. }} or a list of "
                f"choices, got {entry!r} (fix a value with --set instead)"
            )
    return space
