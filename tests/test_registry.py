"""Plugin discovery with real ``importlib.metadata`` entry points and distributions.

Plugin modules are written to a temporary directory on ``sys.path``; their distributions are
real ``*.dist-info`` folders read by ``importlib.metadata.PathDistribution``, so the entry points
carry a distribution name and version exactly as installed ones do.
"""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap
import uuid
import warnings
from pathlib import Path

import pytest

from seqrec_bench import registry
from seqrec_bench.models import MarkovModel, PopularityModel
from seqrec_bench.registry import (
    BUILTIN_ORIGIN,
    ENTRY_POINT_GROUP,
    BrokenModelError,
    ModelRegistry,
    PluginError,
    PluginWarning,
    UnknownModelError,
)

BUILTINS = {
    "pop": "seqrec_bench.models.pop:PopularityModel",
    "markov": "seqrec_bench.models.markov:MarkovModel",
}

VALID_MODEL = '''
from dataclasses import dataclass

import torch

from seqrec_bench.models.base import Model


@dataclass(frozen=True)
class Config:
    """Config of the test plugin.

    Attributes:
        weight: a number.
    """

    weight: float = 1.0


class PluginModel(Model):
    name = "{name}"
    description = "A test plugin."
    config_cls = Config

    def _fit(self, train, validator):
        self._scores = torch.ones(train.n_items)

    def _score(self, batch):
        return self._scores.expand(batch.n_users, -1)
'''


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on ``sys.path`` for plugin modules."""
    path = tmp_path / "modules"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    return path


def write_module(directory: Path, source: str) -> str:
    """Write a module with a fresh name (so ``sys.modules`` never serves an old one)."""
    name = f"plugin_{uuid.uuid4().hex[:12]}"
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def valid_module(directory: Path, name: str) -> str:
    return write_module(directory, VALID_MODEL.format(name=name))


def make_dist(
    directory: Path, dist: str, version: str, entry_points: dict[str, str]
) -> importlib.metadata.Distribution:
    """A real installed-style distribution (``dist-info`` with METADATA and entry_points.txt)."""
    info = directory / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return importlib.metadata.PathDistribution(info)


def dist_entry_points(tmp_path: Path, dist: str, version: str, eps: dict[str, str]) -> list:
    return list(make_dist(tmp_path / "dists", dist, version, eps).entry_points)


def ep(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


# -- built-ins ----------------------------------------------------------------------------------
def test_builtins_are_listed_sorted_with_origin_and_defaults():
    reg = ModelRegistry([], builtins=BUILTINS)
    infos = reg.list()
    assert [i.name for i in infos] == ["markov", "pop"]
    assert all(i.origin == BUILTIN_ORIGIN and i.ok and i.status == "ok" for i in infos)
    markov = infos[0]
    assert markov.model_cls is MarkovModel
    assert markov.default_config == MarkovModel.config_cls()
    assert markov.description == MarkovModel.description


def test_default_registry_has_the_builtin_names():
    names = registry.model_names()
    assert {"pop", "markov", "transformer", "gru"} <= set(names)
    assert names == sorted(names)
    assert registry.get_model_class("pop") is PopularityModel


def test_lookup_ignores_case_and_spaces():
    reg = ModelRegistry([], builtins=BUILTINS)
    assert reg.get("  Markov ") is MarkovModel


def test_unknown_name_lists_valid_names():
    reg = ModelRegistry([], builtins=BUILTINS)
    with pytest.raises(UnknownModelError) as excinfo:
        reg.get("sasrec")
    message = str(excinfo.value)
    assert message == "unknown model 'sasrec'; valid models: markov, pop"
    # callers may catch it as a user-facing PluginError or as a mapping KeyError
    assert isinstance(excinfo.value, PluginError) and isinstance(excinfo.value, KeyError)


def test_every_builtin_class_validates():
    for name, target in BUILTINS.items():
        cls = registry._import_target(target)
        assert registry.validate_model_class(cls, expected_name=name) is cls


# -- good plugins -------------------------------------------------------------------------------
def test_good_plugin_is_listed_with_distribution_and_version(tmp_path, plugin_dir):
    module = valid_module(plugin_dir, "good")
    eps = dist_entry_points(tmp_path, "seqbench-good", "1.2.3", {"good": f"{module}:PluginModel"})
    reg = ModelRegistry(eps, builtins=BUILTINS)
    info = reg.info("good")
    assert info.ok and info.origin == "seqbench-good==1.2.3"
    assert info.description == "A test plugin."
    assert info.default_config.weight == 1.0
    cls = reg.get("good")
    assert cls is sys.modules[module].PluginModel
    assert reg.names() == ["good", "markov", "pop"]


def test_plugin_without_distribution_still_works(plugin_dir):
    module = valid_module(plugin_dir, "nodist")
    reg = ModelRegistry([ep("nodist", f"{module}:PluginModel")], builtins=BUILTINS)
    assert reg.info("nodist").origin == "unknown distribution"
    assert reg.get("nodist").name == "nodist"


def test_entry_points_of_other_groups_are_ignored(plugin_dir):
    module = valid_module(plugin_dir, "other")
    other = importlib.metadata.EntryPoint(
        name="other", value=f"{module}:PluginModel", group="somebody.else"
    )
    assert ModelRegistry([other], builtins=BUILTINS).names() == ["markov", "pop"]


def test_order_is_sorted_whatever_the_entry_point_order(plugin_dir):
    eps = [ep(n, f"{valid_module(plugin_dir, n)}:PluginModel") for n in ("zz", "aa", "nn")]
    assert ModelRegistry(eps, builtins=BUILTINS).names() == ["aa", "markov", "nn", "pop", "zz"]
    assert [i.name for i in ModelRegistry(eps[::-1], builtins=BUILTINS).list()] == [
        "aa",
        "markov",
        "nn",
        "pop",
        "zz",
    ]


# -- broken plugins -----------------------------------------------------------------------------
def test_plugin_that_fails_to_import_is_broken_but_listing_survives(tmp_path, plugin_dir):
    module = write_module(plugin_dir, "raise ImportError('needs libfoo >= 2')\n")
    good = valid_module(plugin_dir, "good")
    eps = dist_entry_points(tmp_path, "seqbench-bad", "0.1", {"bad": f"{module}:Model"})
    eps += [ep("good", f"{good}:PluginModel")]
    reg = ModelRegistry(eps, builtins=BUILTINS)

    infos = {i.name: i for i in reg.list()}
    assert list(infos) == ["bad", "good", "markov", "pop"]
    bad = infos["bad"]
    assert not bad.ok and bad.model_cls is None and bad.default_config is None
    assert bad.origin == "seqbench-bad==0.1"
    assert bad.status.startswith("broken: cannot import")
    assert "ImportError: needs libfoo >= 2" in bad.status
    assert infos["good"].ok and infos["pop"].ok

    # fatal only when asked for by name, and the message says who and why in one line
    with pytest.raises(BrokenModelError) as excinfo:
        reg.get("bad")
    message = str(excinfo.value)
    assert "'bad'" in message and "seqbench-bad==0.1" in message
    assert "needs libfoo >= 2" in message and "\n" not in message
    assert reg.get("good").name == "good"


def test_missing_attribute_is_broken(plugin_dir):
    module = valid_module(plugin_dir, "typo")
    reg = ModelRegistry([ep("typo", f"{module}:NoSuchClass")], builtins=BUILTINS)
    assert "AttributeError" in reg.info("typo").status


def test_syntax_error_is_broken(plugin_dir):
    module = write_module(plugin_dir, "def broken(:\n")
    reg = ModelRegistry([ep("syntax", f"{module}:Model")], builtins=BUILTINS)
    assert "SyntaxError" in reg.info("syntax").status
    assert reg.names() == ["markov", "pop", "syntax"]


@pytest.mark.parametrize(
    ("source", "attr", "reason"),
    [
        ("def Model():\n    pass\n", "Model", "not a seqrec_bench Model subclass (got function)"),
        ("class Model:\n    name = 'x'\n", "Model", "not a seqrec_bench Model subclass"),
        ("Model = 42\n", "Model", "not a seqrec_bench Model subclass (got int)"),
        (
            "from seqrec_bench.models.base import Model as B\nclass Model(B):\n    name = 'wrong'\n",
            "Model",
            "is abstract",
        ),
        (VALID_MODEL.format(name="Upper"), "PluginModel", "not a short lowercase identifier"),
        (VALID_MODEL.format(name="other"), "PluginModel", "registered as 'wrong'"),
        (
            VALID_MODEL.format(name="wrong") + "PluginModel.config_cls = dict\n",
            "PluginModel",
            "config_cls is not a dataclass",
        ),
        (
            VALID_MODEL.format(name="wrong").replace("weight: float = 1.0", "weight: float"),
            "PluginModel",
            "every config field needs a valid default",
        ),
    ],
    ids=[
        "function",
        "plain-class",
        "int",
        "abstract",
        "bad-name",
        "name-mismatch",
        "no-dataclass",
        "no-default",
    ],
)
def test_invalid_model_objects_are_broken(tmp_path, plugin_dir, source, attr, reason):
    module = write_module(plugin_dir, source)
    eps = dist_entry_points(tmp_path, "wrong-dist", "9.9", {"wrong": f"{module}:{attr}"})
    reg = ModelRegistry(eps, builtins=BUILTINS)
    info = reg.info("wrong")
    assert not info.ok
    assert reason in info.status
    assert [i.name for i in reg.list()] == ["markov", "pop", "wrong"]
    with pytest.raises(BrokenModelError, match=r"wrong-dist==9\.9"):
        reg.get("wrong")


def test_invalid_entry_point_name_is_broken_without_importing(plugin_dir):
    module = write_module(plugin_dir, "raise RuntimeError('must not be imported')\n")
    reg = ModelRegistry([ep("My Model", f"{module}:Model")], builtins=BUILTINS)
    info = reg.info("My Model")
    assert "entry-point name 'My Model' is not a short lowercase identifier" in info.status
    assert module not in sys.modules


# -- duplicates ---------------------------------------------------------------------------------
def test_plugin_named_like_a_builtin_warns_and_the_builtin_wins(tmp_path, plugin_dir):
    module = valid_module(plugin_dir, "pop")
    eps = dist_entry_points(tmp_path, "seqbench-fakepop", "2.0", {"pop": f"{module}:PluginModel"})
    reg = ModelRegistry(eps, builtins=BUILTINS)
    with pytest.warns(PluginWarning) as record:
        names = reg.names()
    assert names == ["markov", "pop"]
    (warning,) = record
    assert "'pop'" in str(warning.message) and "seqbench-fakepop==2.0" in str(warning.message)
    assert "built-in" in str(warning.message)
    assert reg.get("pop") is PopularityModel
    assert reg.info("pop").origin == BUILTIN_ORIGIN
    assert module not in sys.modules  # the loser is never even imported


def test_two_plugins_with_one_name_first_distribution_wins(tmp_path, plugin_dir):
    first, second = valid_module(plugin_dir, "twin"), valid_module(plugin_dir, "twin")
    eps = dist_entry_points(tmp_path, "b-twin", "1.0", {"twin": f"{second}:PluginModel"})
    eps += dist_entry_points(tmp_path, "a-twin", "1.0", {"twin": f"{first}:PluginModel"})
    reg = ModelRegistry(eps, builtins=BUILTINS)
    with pytest.warns(PluginWarning, match=r"b-twin==1\.0.*taken by plugin a-twin==1\.0"):
        info = reg.info("twin")
    assert info.origin == "a-twin==1.0"
    assert reg.get("twin") is sys.modules[first].PluginModel


# -- laziness, caching --------------------------------------------------------------------------
def test_discovery_is_lazy_and_imports_only_what_is_asked_for(plugin_dir):
    one, two = valid_module(plugin_dir, "one"), valid_module(plugin_dir, "two")
    reg = ModelRegistry([ep("one", f"{one}:PluginModel"), ep("two", f"{two}:PluginModel")])
    assert reg._entries is None  # nothing happens at construction
    assert "one" in reg.names()
    assert one not in sys.modules and two not in sys.modules  # names import nothing
    reg.get("one")
    assert one in sys.modules and two not in sys.modules


def test_installed_entry_points_are_read_once_until_refresh(monkeypatch):
    calls = []
    real = importlib.metadata.entry_points

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", counting)
    reg = ModelRegistry(builtins=BUILTINS)
    reg.names()
    reg.get("pop")
    reg.list()
    assert calls == [{"group": ENTRY_POINT_GROUP}]
    assert reg.get("markov") is reg.get("markov")  # the loaded class is cached too
    reg.refresh()
    reg.names()
    assert len(calls) == 2


def test_installed_plugin_is_discovered_after_refresh(tmp_path, plugin_dir, monkeypatch):
    """End to end: a dist-info on sys.path, found by importlib.metadata itself."""
    module = valid_module(plugin_dir, "installedtest")
    name = "installedtest"
    with registry.use_entry_points([]):
        pass  # make sure swapping does not disturb the default registry below
    registry.refresh()
    try:
        assert name not in registry.model_names()
        make_dist(plugin_dir, "seqbench-installedtest", "0.3.1", {name: f"{module}:PluginModel"})
        assert name not in registry.model_names()  # cached
        registry.refresh()
        info = registry.get_model_info(name)
        assert info.ok and info.origin == "seqbench-installedtest==0.3.1"
        assert registry.get_model_class(name).name == name
    finally:
        monkeypatch.undo()  # drop the dist-info from sys.path before forgetting it
        registry.refresh()
    assert name not in registry.model_names()


def test_use_entry_points_swaps_and_restores_the_default_registry(plugin_dir):
    module = valid_module(plugin_dir, "swapped")
    before = registry.model_names()
    with registry.use_entry_points([ep("swapped", f"{module}:PluginModel")], builtins=BUILTINS):
        assert registry.model_names() == ["markov", "pop", "swapped"]
        assert [i.name for i in registry.list_models()] == ["markov", "pop", "swapped"]
    assert registry.model_names() == before


def test_corrupt_metadata_warns_and_keeps_builtins(monkeypatch):
    def boom(**kwargs):
        raise OSError("unreadable site-packages")

    monkeypatch.setattr(importlib.metadata, "entry_points", boom)
    reg = ModelRegistry(builtins=BUILTINS)
    with pytest.warns(PluginWarning, match="unreadable site-packages"):
        assert reg.names() == ["markov", "pop"]


def test_listing_never_raises_or_warns_for_good_plugins(plugin_dir):
    module = valid_module(plugin_dir, "quiet")
    reg = ModelRegistry([ep("quiet", f"{module}:PluginModel")], builtins=BUILTINS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [i.status for i in reg.list()] == ["ok", "ok", "ok"]


def test_model_info_error_property():
    info = registry.ModelInfo("x", "d==1", "", "broken: because")
    assert not info.ok and info.error == "because"
    assert registry.ModelInfo("y", BUILTIN_ORIGIN, "d", "ok").error is None


def test_is_valid_model_name():
    for good in ("pop", "bert4rec", "my-model", "a_b", "x" * 32):
        assert registry.is_valid_model_name(good)
    for bad in ("", "Pop", "4rec", "-x", "x" * 33, "a b", "a.b", None):
        assert not registry.is_valid_model_name(bad)
