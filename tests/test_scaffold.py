"""``create_plugin`` writes a plugin package that installs, passes its own tests and runs.

The end-to-end test installs the generated package with ``pip install -e`` into a temporary
prefix rather than into the running environment, so other test runs sharing the environment
never see a half-installed plugin; subprocesses add that prefix with ``site.addsitedir`` (which,
unlike ``PYTHONPATH``, processes the editable install's ``.pth`` file exactly as
site-packages does).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
from pathlib import Path

import pytest

from seqrec_bench import scaffold
from seqrec_bench.data import LeaveOneOutSplit
from seqrec_bench.evaluation import Evaluator
from seqrec_bench.registry import PluginError, validate_model_class
from seqrec_bench.scaffold import create_plugin, plugin_names
from seqrec_bench.testing import cycle_sequences

EXPECTED_FILES = [
    "README.md",
    "pyproject.toml",
    "seqbench_cooc/__init__.py",
    "seqbench_cooc/model.py",
    "tests/test_seqbench_cooc.py",
]


def files_under(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


def test_writes_a_complete_package(tmp_path):
    path = create_plugin("cooc", tmp_path)
    assert path == tmp_path / "seqbench-cooc"
    assert files_under(path) == EXPECTED_FILES
    assert [p.name for p in tmp_path.iterdir()] == ["seqbench-cooc"]  # no scratch folder left
    project = tomllib.loads((path / "pyproject.toml").read_text())
    assert project["project"]["name"] == "seqbench-cooc"
    assert project["project"]["dependencies"] == ["seqrec-bench>=0.1"]
    eps = project["project"]["entry-points"]["seqrec_bench.models"]
    assert eps == {"cooc": "seqbench_cooc:CoocModel"}
    for source in path.rglob("*.py"):
        compile(source.read_text(), str(source), "exec")  # no template leftovers break syntax
        assert "$" not in source.read_text()


def test_names_with_dashes_and_underscores(tmp_path):
    assert plugin_names("my-model") == {
        "name": "my-model",
        "dist": "seqbench-my-model",
        "module": "seqbench_my_model",
        "cls": "MyModelModel",
        "config": "MyModelConfig",
        "test_cls": "TestMyModelModel",
    }
    path = create_plugin("my-model", tmp_path / "new" / "folder")  # parents are created
    project = tomllib.loads((path / "pyproject.toml").read_text())
    eps = project["project"]["entry-points"]["seqrec_bench.models"]
    assert eps == {"my-model": "seqbench_my_model:MyModelModel"}


@pytest.mark.parametrize("name", ["", "Cooc", "2cool", "my model", "a.b", "-x", "x" * 33])
def test_rejects_invalid_names(tmp_path, name):
    with pytest.raises(PluginError, match="not a short lowercase identifier"):
        create_plugin(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_rejects_builtin_names(tmp_path):
    with pytest.raises(PluginError, match="built-in"):
        create_plugin("markov", tmp_path)


def test_never_overwrites(tmp_path):
    existing = tmp_path / "seqbench-cooc"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    with pytest.raises(PluginError, match="already exists"):
        create_plugin("cooc", tmp_path)
    assert files_under(existing) == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seqbench-cooc"]


def test_a_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setitem(scaffold._TEMPLATES, "broken.txt", "$no_such_placeholder")
    with pytest.raises(KeyError):
        create_plugin("cooc", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_generated_model_is_valid_and_learns_the_planted_pattern(tmp_path, monkeypatch):
    path = create_plugin("cooc", tmp_path)
    monkeypatch.syspath_prepend(str(path))
    module = importlib.import_module("seqbench_cooc")
    try:
        cls = validate_model_class(module.CoocModel, expected_name="cooc")
        split = LeaveOneOutSplit.from_sequences(cycle_sequences(seed=5))
        model = cls().fit(split.train, seed=0)
        test = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
        assert test.evaluate(model).metrics["NDCG@10"] > 0.9
    finally:
        for name in [m for m in sys.modules if m.startswith("seqbench_cooc")]:
            del sys.modules[name]


# -- end to end: install, its own tests, the registry, the CLI -----------------------------------
def _python(site_dir: Path, code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that sees the temporary install prefix."""
    preamble = (
        f"import site, sys; site.addsitedir({str(site_dir)!r}); sys.argv[1:] = {list(args)!r}\n"
    )
    return subprocess.run(
        [sys.executable, "-c", preamble + textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_installed_plugin_passes_its_tests_and_runs(tmp_path):
    # --no-build-isolation builds with the environment's own setuptools (no network needed)
    pytest.importorskip("setuptools", reason="building the plugin needs setuptools")
    name = "scaffoldcheck"
    path = create_plugin(name, tmp_path / "src")
    prefix = tmp_path / "prefix"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "--no-index", "--prefix", str(prefix),
         "-e", str(path)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    site_dir = Path(sysconfig.get_path("purelib", vars={"base": prefix, "platbase": prefix}))

    # 1. its own test suite (contract suite included), from its own folder and pytest config
    tests = _python(
        site_dir, "import pytest; sys.exit(pytest.main())", "-q", "-p", "no:cacheprovider", cwd=path
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "failed" not in tests.stdout

    # 2. found by the registry with its distribution and version, fitted through it
    registry_check = _python(
        site_dir,
        """
        import json
        from seqrec_bench.data import LeaveOneOutSplit
        from seqrec_bench.evaluation import Evaluator
        from seqrec_bench.registry import get_model_class, get_model_info
        from seqrec_bench.testing import cycle_sequences

        name = sys.argv[1]
        info = get_model_info(name)
        split = LeaveOneOutSplit.from_sequences(cycle_sequences(seed=5))
        model = get_model_class(name)().fit(split.train, seed=0)
        test = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
        print(json.dumps({"origin": info.origin, "status": info.status,
                          "ndcg": test.evaluate(model).metrics["NDCG@10"]}))
        """,
        name,
        cwd=tmp_path,
    )
    assert registry_check.returncode == 0, registry_check.stderr
    result = json.loads(registry_check.stdout.strip().splitlines()[-1])
    assert result["origin"] == f"seqbench-{name}==0.1.0" and result["status"] == "ok"
    assert result["ndcg"] > 0.9

    # 3. the CLI: listed, configuration shown, and a run
    cli = "from seqrec_bench.cli import main; sys.argv[0] = 'seqbench'; main()"
    listing = _python(site_dir, cli, "models", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert name in listing.stdout and f"seqbench-{name}==0.1.0" in listing.stdout
    config = _python(site_dir, cli, "models", name, cwd=tmp_path)
    assert config.returncode == 0, config.stderr
    assert "popularity_weight" in config.stdout and "history_decay" in config.stdout
    out = tmp_path / "results"
    run = _python(
        site_dir, cli, "run", "--models", f"{name},pop", "--dataset", "synthetic",
        "--device", "cpu", "--output", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert (out / "summary.json").exists()
    assert name in (out / "table.csv").read_text()
