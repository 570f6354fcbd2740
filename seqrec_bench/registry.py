"""Model registry: built-in models and third-party plugins by short lowercase name.

Built-in models and plugins go through the same registry. Plugins are found through the
entry-point group ``seqrec_bench.models``; the entry point's value is the model class::

    [project.entry-points."seqrec_bench.models"]
    bert4rec = "seqbench_bert4rec:BERT4RecModel"

Discovery is lazy (nothing is looked up until the first call), deterministic (sorted by name)
and cached (:func:`refresh` forgets the cache). Finding entry points imports nothing; a model's
module is imported the first time that model is needed, so ``seqbench models`` imports every
model but ``get_model_class("pop")`` imports only ``pop``.

Rules:

* A plugin that fails to import, or whose object is not a valid model (see
  :func:`validate_model_class`), is recorded as *broken* with its distribution, version and the
  reason. It never breaks listing or any other model; it is an error only when the user asks for
  it by name (:class:`BrokenModelError`).
* A plugin with the same name as a built-in model is ignored with a :class:`PluginWarning`: the
  built-in wins, so a table labelled ``markov`` always means seqrec_bench's own Markov chain.
  Two plugins with the same name: the one whose distribution name sorts first wins, also with a
  warning.

Example:
    >>> from seqrec_bench.registry import get_model_class, model_names
    >>> "pop" in model_names()
    True
    >>> get_model_class("pop").__name__
    'PopularityModel'
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import importlib.metadata
import inspect
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from seqrec_bench.errors import SeqbenchError
from seqrec_bench.models.base import Model

__all__ = [
    "BUILTIN_MODELS",
    "BUILTIN_ORIGIN",
    "ENTRY_POINT_GROUP",
    "MODEL_NAME_PATTERN",
    "BrokenModelError",
    "ModelInfo",
    "ModelRegistry",
    "PluginError",
    "PluginWarning",
    "UnknownModelError",
    "get_model_class",
    "get_model_info",
    "is_valid_model_name",
    "list_models",
    "model_names",
    "refresh",
    "use_entry_points",
    "validate_model_class",
]

#: The entry-point group plugins register their model classes in.
ENTRY_POINT_GROUP = "seqrec_bench.models"

#: Registry keys: a lowercase letter, then up to 31 lowercase letters, digits, ``_`` or ``-``.
MODEL_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")

#: The ``origin`` of built-in models in :class:`ModelInfo`.
BUILTIN_ORIGIN = "built-in"

#: name -> "module:Class"; imported lazily so listing names does not import torch models.
BUILTIN_MODELS: dict[str, str] = {
    "pop": "seqrec_bench.models.pop:PopularityModel",
    "recentpop": "seqrec_bench.models.recentpop:RecentPopModel",
    "markov": "seqrec_bench.models.markov:MarkovModel",
    "transformer": "seqrec_bench.models.transformer:TransformerModel",
    "gru": "seqrec_bench.models.gru:GRUModel",
}


class PluginError(SeqbenchError, ValueError):
    """A user-facing problem with a model name or plugin; the message is one line."""


class UnknownModelError(PluginError, KeyError):
    """The user asked for a model name that is not registered (the message lists valid names).

    Also a :class:`KeyError`, for callers that treat the registry as a mapping.
    """

    def __str__(self) -> str:  # KeyError quotes its message; we want a plain line
        return str(self.args[0])


class BrokenModelError(PluginError):
    """The requested model is registered but cannot be used (import failed, invalid class)."""


class PluginWarning(UserWarning):
    """A plugin was ignored (its name is taken by a built-in or another plugin)."""


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model.

    Attributes:
        name: registry key (``"pop"``, ``"bert4rec"``).
        origin: ``"built-in"``, or ``"distribution==version"`` for plugins.
        description: the class's one-line ``description`` (empty when broken).
        status: ``"ok"`` or ``"broken: <reason>"``.
        model_cls: the model class, or ``None`` when broken.
        default_config: ``model_cls.config_cls()``, or ``None`` when broken.
    """

    name: str
    origin: str
    description: str
    status: str
    model_cls: type[Model] | None = field(default=None, repr=False, compare=False)
    default_config: Any = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether the model can be used."""
        return self.status == "ok"

    @property
    def error(self) -> str | None:
        """Why the model is broken, or ``None``."""
        return None if self.ok else self.status.removeprefix("broken: ")


def is_valid_model_name(name: str) -> bool:
    """Whether ``name`` is a short lowercase identifier usable as a registry key.

    Example:
        >>> is_valid_model_name("bert4rec"), is_valid_model_name("BERT4Rec")
        (True, False)
    """
    return isinstance(name, str) and MODEL_NAME_PATTERN.fullmatch(name) is not None


def validate_model_class(obj: Any, *, expected_name: str | None = None) -> type[Model]:
    """Check that ``obj`` is a usable model class and return it.

    A valid model is a concrete :class:`~seqrec_bench.models.base.Model` subclass whose
    ``config_cls`` is a dataclass that can be built without arguments and whose ``name`` is a
    short lowercase identifier (equal to ``expected_name``, the entry-point name, when given).

    Raises:
        PluginError: with the reason (one line).
    """
    if not (inspect.isclass(obj) and issubclass(obj, Model)):
        what = type(obj).__name__ if not inspect.isclass(obj) else f"class {obj.__qualname__}"
        raise PluginError(f"not a seqrec_bench Model subclass (got {what})")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise PluginError(f"{obj.__qualname__} is abstract (does not implement {missing})")
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not is_valid_model_name(name):
        raise PluginError(
            f"{obj.__qualname__}.name = {name!r} is not a short lowercase identifier "
            f"(pattern {MODEL_NAME_PATTERN.pattern})"
        )
    if expected_name is not None and name != expected_name:
        raise PluginError(
            f"{obj.__qualname__}.name is {name!r} but it is registered as {expected_name!r}"
        )
    config_cls = getattr(obj, "config_cls", None)
    if not (inspect.isclass(config_cls) and dataclasses.is_dataclass(config_cls)):
        raise PluginError(f"{obj.__qualname__}.config_cls is not a dataclass (got {config_cls!r})")
    try:
        config_cls()
    except Exception as exc:  # a plugin's __post_init__ may raise anything
        raise PluginError(
            f"{config_cls.__qualname__}() failed ({type(exc).__name__}: {_one_line(exc)}); "
            "every config field needs a valid default"
        ) from None
    return obj


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass
class _Entry:
    """One registered name: where it comes from and, once loaded, its class or its error."""

    name: str
    origin: str
    target: str
    loader: Callable[[], Any]
    error: str | None = None
    model_cls: type[Model] | None = None
    loaded: bool = False

    def load(self) -> None:
        if self.loaded:
            return
        self.loaded = True
        if not is_valid_model_name(self.name):
            self.error = (
                f"entry-point name {self.name!r} is not a short lowercase identifier "
                f"(pattern {MODEL_NAME_PATTERN.pattern})"
            )
            return
        try:
            obj = self.loader()
        except Exception as exc:  # any import-time failure of a plugin is its own problem
            self.error = f"cannot import {self.target} ({type(exc).__name__}: {_one_line(exc)})"
            return
        try:
            self.model_cls = validate_model_class(obj, expected_name=self.name)
        except PluginError as exc:
            self.error = f"{self.target}: {exc}"

    def info(self) -> ModelInfo:
        self.load()
        if self.error is not None or self.model_cls is None:
            return ModelInfo(self.name, self.origin, "", f"broken: {self.error}")
        cls = self.model_cls
        description = (cls.description or _first_doc_line(cls)).strip()
        return ModelInfo(self.name, self.origin, description, "ok", cls, cls.config_cls())


def _first_doc_line(cls: type) -> str:
    doc = cls.__dict__.get("__doc__") or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _import_target(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def _origin(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown distribution"
    # ``Distribution.name`` is 3.10+; the metadata lookup works everywhere
    name = dist.metadata["Name"] or "unknown distribution"
    return f"{name}=={dist.version}"


class ModelRegistry:
    """Built-in models plus the models of one set of entry points.

    The module-level functions (:func:`get_model_class`, :func:`list_models`, ...) use one
    default instance that reads the installed entry points; tests build their own or swap the
    default with :func:`use_entry_points`.

    Args:
        entry_points: the plugin entry points to use instead of the installed ones (entry points
            of other groups are ignored). ``None`` reads ``importlib.metadata`` on first use.
        builtins: name -> ``"module:Class"`` of the built-in models; ``None`` uses
            :data:`BUILTIN_MODELS`.

    Example:
        >>> from importlib.metadata import EntryPoint
        >>> ep = EntryPoint(name="nope", value="no_such_module:Model", group=ENTRY_POINT_GROUP)
        >>> reg = ModelRegistry([ep])
        >>> reg.info("nope").status
        "broken: cannot import no_such_module:Model (ModuleNotFoundError: No module named 'no_such_module')"
    """

    def __init__(
        self,
        entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
        *,
        builtins: Mapping[str, str] | None = None,
    ) -> None:
        self._entry_points = None if entry_points is None else list(entry_points)
        self._builtins = None if builtins is None else dict(builtins)
        self._entries: dict[str, _Entry] | None = None

    def refresh(self) -> None:
        """Forget what was discovered and loaded; the next call discovers again."""
        self._entries = None

    def _discover(self) -> dict[str, _Entry]:
        if self._entries is not None:
            return self._entries
        builtins = BUILTIN_MODELS if self._builtins is None else self._builtins
        entries: dict[str, _Entry] = {}
        for name, target in sorted(builtins.items()):
            entries[name] = _Entry(
                name, BUILTIN_ORIGIN, target, functools.partial(_import_target, target)
            )
        for ep in self._plugin_entry_points():
            origin = _origin(ep)
            if ep.name in entries:
                taken_by = (
                    "a built-in model"
                    if ep.name in builtins
                    else f"plugin {entries[ep.name].origin}"
                )
                warnings.warn(
                    f"model plugin {ep.name!r} from {origin} is ignored: the name is taken by "
                    f"{taken_by}, which wins (the plugin needs another entry-point name)",
                    PluginWarning,
                    stacklevel=4,
                )
                continue
            entries[ep.name] = _Entry(ep.name, origin, ep.value, ep.load)
        self._entries = dict(sorted(entries.items()))
        return self._entries

    def _plugin_entry_points(self) -> list[importlib.metadata.EntryPoint]:
        if self._entry_points is not None:
            eps = [ep for ep in self._entry_points if ep.group == ENTRY_POINT_GROUP]
        else:
            try:
                eps = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
            except Exception as exc:  # corrupt metadata of some unrelated package
                warnings.warn(
                    f"could not read installed model plugins ({type(exc).__name__}: "
                    f"{_one_line(exc)}); only built-in models are available",
                    PluginWarning,
                    stacklevel=3,
                )
                eps = []
        # sorted by name, then distribution, so the winner of a duplicate is deterministic
        return sorted(eps, key=lambda ep: (ep.name, _origin(ep), ep.value))

    def names(self) -> list[str]:
        """Sorted names of every registered model (broken ones included); imports nothing."""
        return list(self._discover())

    def info(self, name: str) -> ModelInfo:
        """The :class:`ModelInfo` of one model (broken models too).

        Raises:
            UnknownModelError: listing the valid names.
        """
        return self._entry(name).info()

    def get(self, name: str) -> type[Model]:
        """The model class registered under ``name`` (case and surrounding spaces ignored).

        Raises:
            UnknownModelError: ``name`` is not registered; the message lists the valid names.
            BrokenModelError: the model is registered but unusable; the message names its
                distribution, version and the reason.
        """
        info = self.info(name)
        if info.model_cls is None:
            where = "built-in model" if info.origin == BUILTIN_ORIGIN else f"plugin {info.origin}"
            hint = (
                "check the seqrec_bench installation (this is a bug if it is complete)"
                if info.origin == BUILTIN_ORIGIN
                else "reinstall or upgrade that package, or uninstall it"
            )
            raise BrokenModelError(f"model {info.name!r} ({where}) is broken: {info.error}; {hint}")
        return info.model_cls

    def list(self) -> list[ModelInfo]:
        """Every registered model, sorted by name; loads (imports) each one."""
        return [entry.info() for entry in self._discover().values()]

    def _entry(self, name: str) -> _Entry:
        entries = self._discover()
        key = name if name in entries else str(name).strip().lower()
        if key not in entries:
            raise UnknownModelError(
                f"unknown model {name!r}; valid models: {', '.join(entries) or '(none)'}"
            )
        return entries[key]


_REGISTRY = ModelRegistry()


def model_names() -> list[str]:
    """Sorted names of every registered model (built-in and plugins; imports no model)."""
    return _REGISTRY.names()


def get_model_class(name: str) -> type[Model]:
    """The model class registered under ``name``.

    Example:
        >>> get_model_class("markov").name
        'markov'

    Raises:
        UnknownModelError: listing the valid names.
        BrokenModelError: the model's plugin failed to load (names ``dist==version`` and why).
    """
    return _REGISTRY.get(name)


def get_model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of one model, without raising for broken ones.

    Raises:
        UnknownModelError: listing the valid names.
    """
    return _REGISTRY.info(name)


def list_models() -> list[ModelInfo]:
    """Every registered model, sorted by name, with its origin and status.

    Broken plugins are listed with ``status="broken: <reason>"`` instead of raising.
    """
    return _REGISTRY.list()


def refresh() -> None:
    """Forget discovered plugins, e.g. after installing one in the same process."""
    _REGISTRY.refresh()


@contextlib.contextmanager
def use_entry_points(
    entry_points: Iterable[importlib.metadata.EntryPoint],
    *,
    builtins: Mapping[str, str] | None = None,
) -> Iterator[ModelRegistry]:
    """Temporarily make the module-level functions see only these plugin entry points.

    For tests (the CLI's golden tables should not depend on what happens to be installed).

    Example:
        >>> with use_entry_points([]):
        ...     model_names()[:2]
        ['gru', 'markov']
    """
    global _REGISTRY
    previous = _REGISTRY
    _REGISTRY = ModelRegistry(entry_points, builtins=builtins)
    try:
        yield _REGISTRY
    finally:
        _REGISTRY = previous
