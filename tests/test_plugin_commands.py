"""``seqbench models`` / ``seqbench new-model`` as functions, with injected plugins.

The registry is swapped with :func:`seqrec_bench.registry.use_entry_points`, so the output
does not depend on which plugins happen to be installed.
"""

from __future__ import annotations

import importlib.metadata
import io
import textwrap
from dataclasses import dataclass

import pytest
from rich.console import Console

from seqrec_bench.plugin_commands import (
    config_field_docs,
    config_field_infos,
    models_command,
    new_model_command,
)
from seqrec_bench.registry import (
    ENTRY_POINT_GROUP,
    BrokenModelError,
    PluginError,
    UnknownModelError,
    use_entry_points,
)

BUILTINS = {
    "pop": "seqrec_bench.models.pop:PopularityModel",
    "markov": "seqrec_bench.models.markov:MarkovModel",
}


def render(*args) -> str:
    console = Console(file=io.StringIO(), width=300, record=True, color_system=None)
    models_command(*args, console)
    return console.export_text()


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """A broken plugin with a distribution (dist-info) next to the two built-ins."""
    info = tmp_path / "seqbench_broken-0.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: seqbench-broken\nVersion: 0.2\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nbroken = seqbench_broken_missing:Model\n"
    )
    eps = list(importlib.metadata.PathDistribution(info).entry_points)
    with use_entry_points(eps, builtins=BUILTINS):
        yield


def test_table_lists_every_model_with_origin_and_status(plugins):
    text = render(None)
    lines = [line.rstrip() for line in text.splitlines()]
    rows = [line for line in lines if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["broken", "markov", "pop"]
    broken, markov, pop = rows
    assert "seqbench-broken==0.2" in broken
    assert "broken: cannot import seqbench_broken_missing:Model (ModuleNotFoundError" in broken
    assert "built-in" in markov and "Markov chain over consecutive items" in markov
    assert markov.rstrip("│ ").endswith("ok")
    assert "Training-set popularity" in pop


def test_one_model_shows_its_full_config(plugins):
    text = render("markov")
    assert text.splitlines()[0] == "markov  (built-in)"
    assert "MarkovConfig (set with --set markov.FIELD=VALUE)" in text
    config_part, _, space_part = text.partition("Search space")
    rows = {
        line.split("│")[1].strip(): line
        for line in config_part.splitlines()
        if line.startswith("│")
    }
    assert list(rows) == ["order", "alpha", "backoff_weight", "select_on_validation"]
    cells = [c.strip() for c in rows["alpha"].split("│")[1:-1]]
    assert cells == ["alpha", "float", "0.01", "add-alpha smoothing of the transition counts."]
    assert "True" in rows["select_on_validation"]
    assert "grid by validation NDCG@10" in rows["select_on_validation"]
    # then the search space of `seqbench tune`: the smoothing and the order, 8 configurations
    assert " (seqbench tune; 8 configurations):" in space_part
    space = [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in space_part.splitlines()
        if line.startswith("│")
    ]
    assert space == [["order", "choice", "{1, 2}"], ["alpha", "choice", "{0.001, 0.01, 0.1, 1}"]]


def test_unknown_and_broken_names_are_one_line_plugin_errors(plugins):
    with pytest.raises(UnknownModelError, match=r"valid models: broken, markov, pop$"):
        render("nope")
    with pytest.raises(BrokenModelError) as excinfo:
        render("broken")
    assert "seqbench-broken==0.2" in str(excinfo.value) and "\n" not in str(excinfo.value)
    assert isinstance(excinfo.value, PluginError) and isinstance(excinfo.value, ValueError)


@dataclass(frozen=True)
class _Base:
    """Base.

    Attributes:
        lr: learning rate.
        epochs: how long
            to train (continued).
    """

    lr: float = 0.1
    epochs: int = 3


@dataclass(frozen=True)
class _Child(_Base):
    """Child config.

    Args:
        ignored: not an attribute section.

    Attributes:
        hidden (int): hidden size.
        mode: ``"a"`` or ``"b"``.
        lr: overridden description.

    Example:
        >>> _Child()
    """

    hidden: int = 8
    mode: str = "a"
    gamma: float | None = None
    sizes: tuple[int, ...] = (1, 2)


def test_field_docs_read_google_attributes_of_the_whole_hierarchy():
    assert config_field_docs(_Child) == {
        "lr": "overridden description.",
        "epochs": "how long to train (continued).",
        "hidden": "hidden size.",
        "mode": '``"a"`` or ``"b"``.',
    }


def test_field_infos_have_types_defaults_and_docs():
    infos = {i.name: i for i in config_field_infos(_Child)}
    assert list(infos) == ["lr", "epochs", "hidden", "mode", "gamma", "sizes"]
    assert (infos["lr"].type, infos["lr"].default) == ("float", 0.1)
    assert infos["gamma"].type == "float | None" and infos["gamma"].doc == ""
    assert infos["sizes"].type == "tuple[int, ...]" and infos["sizes"].default == (1, 2)


def test_markup_in_values_is_not_swallowed(plugins, tmp_path, monkeypatch):
    module = tmp_path / "literal_plugin.py"
    module.write_text(
        textwrap.dedent(
            '''
            from dataclasses import dataclass
            from typing import Literal
            import torch
            from seqrec_bench.models.base import Model

            @dataclass(frozen=True)
            class Config:
                """Config.

                Attributes:
                    norm: [pre] or [post].
                """
                norm: Literal["pre", "post"] = "pre"
                dims: tuple[int, ...] = (4, 8)

            class LiteralModel(Model):
                name = "literal"
                description = "Uses [brackets]."
                config_cls = Config
                def _fit(self, train, validator):
                    self._s = torch.zeros(train.n_items)
                def _score(self, batch):
                    return self._s.expand(batch.n_users, -1)
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = importlib.metadata.EntryPoint(
        name="literal", value="literal_plugin:LiteralModel", group=ENTRY_POINT_GROUP
    )
    with use_entry_points([ep], builtins={}):
        text = render("literal")
        assert "Uses [brackets]." in text
        assert "Literal['pre', 'post']" in text and "'pre'" in text and "(4, 8)" in text
        assert "[pre] or [post]." in text
        assert "Uses [brackets]." in render(None)


def test_dataset_dependent_defaults_are_mentioned():
    from seqrec_bench.models.base import Model

    @dataclass(frozen=True)
    class Config:
        """No fields."""

    class Adaptive(Model):
        name = "adaptive"
        description = "x"
        config_cls = Config

        @classmethod
        def default_config(cls, dataset_stats=None):
            return Config()

        def _fit(self, train, validator): ...

        def _score(self, batch): ...

    from seqrec_bench import plugin_commands

    assert "depend on the data set" in plugin_commands._dataset_defaults_note(Adaptive)
    from seqrec_bench.models import MarkovModel

    assert plugin_commands._dataset_defaults_note(MarkovModel) == ""


def test_new_model_command_creates_the_package_and_prints_next_steps(tmp_path):
    console = Console(file=io.StringIO(), width=300, record=True, color_system=None)
    path = new_model_command("cooc", tmp_path, console)
    assert path == tmp_path / "seqbench-cooc" and (path / "pyproject.toml").exists()
    text = console.export_text()
    assert f"pip install -e {path}" in text and "seqbench run --models cooc" in text
    with pytest.raises(PluginError, match="already exists"):
        new_model_command("cooc", tmp_path, console)
    with pytest.raises(PluginError, match="lowercase"):
        new_model_command("Bad", tmp_path, console)
