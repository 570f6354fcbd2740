"""The ``seqbench models`` and ``seqbench new-model`` commands, as plain functions.

The CLI wires them into typer; they print through the rich console they are given and raise
:class:`~seqrec_bench.registry.PluginError` (a ``ValueError``, one-line message) for anything
the user can fix.

Example:
    >>> from rich.console import Console
    >>> models_command("pop", Console(width=100))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from seqrec_bench.models.base import Model
from seqrec_bench.registry import (
    BUILTIN_ORIGIN,
    ModelInfo,
    PluginError,
    get_model_class,
    get_model_info,
    list_models,
)

__all__ = [
    "ConfigFieldInfo",
    "PluginError",
    "config_field_docs",
    "config_field_infos",
    "models_command",
    "new_model_command",
]

_ENTRY = re.compile(r"(?P<name>\w+)\s*(?:\([^)]*\))?\s*:\s*(?P<text>.*)")


@dataclasses.dataclass(frozen=True)
class ConfigFieldInfo:
    """One row of a model's configuration table.

    Attributes:
        name: field name (the key of ``--set MODEL.NAME=VALUE``).
        type: the annotation as text (``"int"``, ``"float | None"``, ``"Literal['pre', 'post']"``).
        default: the default value.
        doc: the field's description from the config docstring, or ``""``.
    """

    name: str
    type: str
    default: Any
    doc: str


def config_field_docs(config_cls: type) -> dict[str, str]:
    """Field descriptions from the Google-style ``Attributes:`` sections of a config class.

    Base classes are read too (a subclass's description wins), so a config that extends the
    shared ``TrainerConfig`` documents the trainer fields without repeating them.

    Example:
        >>> from seqrec_bench.models.markov import MarkovConfig
        >>> config_field_docs(MarkovConfig)["alpha"]
        'add-alpha smoothing of the transition counts.'
    """
    docs: dict[str, str] = {}
    for klass in reversed(inspect.getmro(config_cls)):
        docs.update(_attributes_section(klass.__dict__.get("__doc__") or ""))
    return docs


def _attributes_section(docstring: str) -> dict[str, str]:
    lines = inspect.cleandoc(docstring).splitlines()
    out: dict[str, str] = {}
    inside, entry_indent, current = False, None, None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not inside:
            inside = stripped == "Attributes:" and indent == 0
            continue
        if not stripped:
            continue
        if indent == 0:  # the next section (or prose) starts
            break
        if entry_indent is None:
            entry_indent = indent
        match = _ENTRY.fullmatch(stripped) if indent == entry_indent else None
        if match:
            current = match["name"]
            out[current] = match["text"].strip()
        elif current is not None and indent > entry_indent:
            out[current] = f"{out[current]} {stripped}".strip()
    return out


def config_field_infos(config_cls: type) -> list[ConfigFieldInfo]:
    """Name, type, default and description of every field of a config dataclass, in order."""
    try:
        hints = typing.get_type_hints(config_cls)
    except Exception:  # an annotation that cannot be resolved: show its text instead
        hints = {}
    defaults = config_cls()
    docs = config_field_docs(config_cls)
    return [
        ConfigFieldInfo(
            name=f.name,
            type=_type_text(hints.get(f.name, f.type)),
            default=getattr(defaults, f.name),
            doc=docs.get(f.name, ""),
        )
        for f in dataclasses.fields(config_cls)
    ]


def _type_text(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


def models_command(name: str | None, console: Console) -> None:
    """Print every registered model, or one model's full configuration.

    Without ``name``: a table of name, origin (``built-in`` or ``dist==version``), description
    and status (``ok`` / ``broken: reason``) of every model; broken plugins are listed, never
    fatal. With ``name``: that model's origin, description, a table of its config fields
    (field, type, default, description) and its search space (``seqbench tune``).

    Raises:
        PluginError: ``name`` is unknown (``UnknownModelError``, listing the valid names) or
            the model is broken (``BrokenModelError``, naming its distribution and the reason).
    """
    if name is None:
        console.print(_models_table(list_models()))
        return
    info = get_model_info(name)
    cls = get_model_class(info.name)  # raises the one-line BrokenModelError for broken plugins
    console.print(f"[bold]{info.name}[/]  ({_escape(info.origin)})", highlight=False)
    if info.description:
        console.print(_escape(info.description), highlight=False)
    console.print(_config_table(cls))
    for part in _space_parts(cls):
        console.print(part, highlight=False)
    note = _dataset_defaults_note(cls)
    if note:
        console.print(note, highlight=False)


def _models_table(infos: list[ModelInfo]) -> Table:
    table = Table(title="Models")
    table.add_column("Name", style="bold", no_wrap=True)
    table.add_column("Origin", no_wrap=True)
    table.add_column("Description")
    table.add_column("Status")
    for info in infos:
        status = info.status if info.ok else f"[red]{_escape(info.status)}[/]"
        origin = info.origin if info.origin == BUILTIN_ORIGIN else _escape(info.origin)
        table.add_row(info.name, origin, _escape(info.description), status)
    return table


def _config_table(cls: type[Model]) -> Table:
    table = Table(title=f"{cls.config_cls.__name__} (set with --set {cls.name}.FIELD=VALUE)")
    table.add_column("Field", style="bold", no_wrap=True)
    table.add_column("Type")
    table.add_column("Default")
    table.add_column("Description")
    for field in config_field_infos(cls.config_cls):
        doc = field.doc.replace("``", "")  # reST literals read better without the backticks
        table.add_row(field.name, _escape(field.type), _escape(repr(field.default)), _escape(doc))
    return table


def _space_parts(cls: type[Model]) -> list[Table | str]:
    """The model's search space (``seqbench tune``): a heading and a table, or one line."""
    from seqrec_bench.models.space import describe_param, space_size, validate_space

    space = dict(getattr(cls, "search_space", {}) or {})
    if not space:
        return ["Search space: nothing to tune (seqbench tune runs it once, at its defaults)."]
    try:
        validate_space(cls.name, cls.config_cls, space)
        status = space_size(space)
    except Exception as exc:  # noqa: BLE001 - shown, so a plugin author sees what is wrong
        status = f"[red]invalid: {_escape(str(exc))}[/]"
    table = Table()
    table.add_column("Field", style="bold", no_wrap=True)
    table.add_column("Kind")
    table.add_column("Range / choices")
    for field, param in space.items():
        kind = f"{param.kind}{' (log)' if param.log else ''}"
        table.add_row(field, kind, _escape(describe_param(param)))
    return [f"Search space (seqbench tune; {status}):", table]


def _dataset_defaults_note(cls: type[Model]) -> str:
    """A line saying the defaults adapt to the data set, when the model overrides them."""
    if getattr(cls.default_config, "__func__", None) is getattr(
        Model.default_config, "__func__", None
    ):
        return ""
    return (
        "Note: some defaults depend on the data set "
        f"({cls.__name__}.default_config); `seqbench run` prints and stores the resolved config."
    )


def _escape(text: str) -> str:
    # rich would read "[...]" in reprs (Literal['a'], lists) as markup
    from rich.markup import escape

    return escape(str(text))


def new_model_command(name: str, directory: Path | str, console: Console) -> Path:
    """Write a plugin package ``seqbench-<name>/`` under ``directory`` and say what to do next.

    Returns:
        The created package folder.

    Raises:
        PluginError: the name is not a short lowercase identifier, is taken by a built-in
            model, or the target folder already exists.
    """
    from seqrec_bench.scaffold import create_plugin

    path = create_plugin(name, directory)
    console.print(f"Created the plugin package [bold]{_escape(str(path))}[/]", highlight=False)
    console.print("Next steps:", highlight=False)
    for step in (
        f"pip install -e {path}",
        f"pytest {path}",
        f"seqbench models {name}",
        f"seqbench run --models {name},pop --dataset synthetic",
    ):
        console.print(f"  {_escape(step)}", highlight=False)
    return path
