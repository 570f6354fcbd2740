"""``seqbench new-model``: write a ready-to-edit plugin package for a new model.

The package is complete and working, not a stub: a small sequential item-to-item model
("which items follow the user's recent items in the training data"), its frozen config, the
entry point that registers it, a README and a test file that runs the contract suite. After
``pip install -e seqbench-<name>`` it passes its own tests and runs in ``seqbench run``; the
author then replaces the model with their own.

Example:
    >>> path = create_plugin("cooc", tmp_dir)  # doctest: +SKIP
    >>> sorted(p.name for p in path.iterdir())  # doctest: +SKIP
    ['README.md', 'pyproject.toml', 'seqbench_cooc', 'tests']
"""

from __future__ import annotations

import shutil
import string
import tempfile
from pathlib import Path

import seqrec_bench
from seqrec_bench.registry import (
    BUILTIN_MODELS,
    MODEL_NAME_PATTERN,
    PluginError,
    is_valid_model_name,
)

__all__ = ["create_plugin", "plugin_names"]


def plugin_names(name: str) -> dict[str, str]:
    """The names derived from a model name: distribution, module and classes.

    Example:
        >>> plugin_names("my-model")["cls"], plugin_names("my-model")["module"]
        ('MyModelModel', 'seqbench_my_model')
    """
    camel = "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))
    return {
        "name": name,
        "dist": f"seqbench-{name}",
        "module": f"seqbench_{name.replace('-', '_')}",
        "cls": f"{camel}Model",
        "config": f"{camel}Config",
        "test_cls": f"Test{camel}Model",
    }


def create_plugin(name: str, directory: Path | str = ".") -> Path:
    """Write the plugin package ``<directory>/seqbench-<name>/`` and return its path.

    Args:
        name: the model's registry name, a short lowercase identifier (``[a-z][a-z0-9_-]*``,
            at most 32 characters) not taken by a built-in model.
        directory: where to create the package folder (created if missing).

    Raises:
        PluginError: invalid or taken name, or the package folder already exists (nothing is
            ever overwritten).
    """
    if not is_valid_model_name(name):
        raise PluginError(
            f"model name {name!r} is not a short lowercase identifier "
            f"(pattern {MODEL_NAME_PATTERN.pattern}, e.g. 'cooc' or 'my-model')"
        )
    if name in BUILTIN_MODELS:
        raise PluginError(
            f"{name!r} is a built-in model name and a plugin cannot replace it; choose another"
        )
    names = plugin_names(name)
    parent = Path(directory).expanduser()
    target = parent / names["dist"]
    if target.exists():
        raise PluginError(f"{target} already exists; remove it or choose another --dir")
    version = seqrec_bench.__version__.split(".")
    values = {**names, "requires": f"seqrec-bench>={version[0]}.{version[1]}"}
    parent.mkdir(parents=True, exist_ok=True)
    # write into a scratch folder and rename it at the end, so a failure leaves nothing behind
    scratch = Path(tempfile.mkdtemp(prefix=f".{names['dist']}-", dir=parent))
    try:
        for relative, template in _TEMPLATES.items():
            path = scratch / string.Template(relative).substitute(values)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(string.Template(template).substitute(values), encoding="utf-8")
        if target.exists():  # created by someone else meanwhile
            raise PluginError(f"{target} already exists; remove it or choose another --dir")
        scratch.rename(target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return target


# The templates use string.Template ($name, $module, $cls, ...): the generated Python code has
# no "$" of its own, so nothing needs escaping.
_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "The '$name' sequential recommender as a seqrec_bench plugin."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["$requires"]

[project.optional-dependencies]
test = ["pytest>=7"]

# seqrec_bench finds the model through this entry point; the key is the model's name.
[project.entry-points."seqrec_bench.models"]
$name = "$module:$cls"

[tool.setuptools]
packages = ["$module"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

_INIT = '''\
"""The '$name' model for seqrec_bench, registered by the ``seqrec_bench.models`` entry point."""

from $module.model import $config, $cls

__all__ = ["$cls", "$config"]
'''

_MODEL = '''\
"""Item-to-item "what follows" model: a small, real starting point to replace with your own.

Training counts, for every item ``i``, which items follow it within ``window`` steps in a
user's training sequence (a pair at distance ``d`` counts ``decay ** (d - 1)``), and normalises
each row to sum to one. A user's scores are the rows of their ``history`` most recent items,
the ``k``-th most recent weighted by ``history_decay ** (k - 1)``, plus a small popularity prior
so that items that never follow anything still get a finite, ordered score.

The harness does everything else: it hands ``_fit`` the training sequences only (the test
items are never shown to a model), calls ``_score`` on batches of input sequences and ranks,
masks seen items and computes the metrics itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from seqrec_bench.data import Sequences
from seqrec_bench.models.base import Model, Validator

__all__ = ["$cls", "$config"]


@dataclass(frozen=True)
class $config:
    """Hyper-parameters of :class:`$cls` (``seqbench models $name`` prints them).

    Attributes:
        window: how many following items count as "following" a training item.
        decay: weight factor per extra step of distance inside the window.
        history: how many of the user's most recent items vote.
        history_decay: weight factor per step back in the user's history.
        popularity_weight: weight of the training popularity prior (breaks ties, scores cold
            items).
    """

    window: int = 3
    decay: float = 0.5
    history: int = 3
    history_decay: float = 0.5
    popularity_weight: float = 1e-3

    def __post_init__(self) -> None:
        # fail at configuration time with a clear message, not deep inside fit
        if self.window < 1 or self.history < 1:
            raise ValueError("window and history must be >= 1")
        if not (0.0 < self.decay <= 1.0 and 0.0 < self.history_decay <= 1.0):
            raise ValueError("decay and history_decay must lie in (0, 1]")
        if self.popularity_weight < 0:
            raise ValueError("popularity_weight must be >= 0")


class $cls(Model[$config]):
    """Scores the items that follow the user's most recent items in the training data.

    A torch model trained by seqrec_bench's trainer would subclass
    ``seqrec_bench.models.TorchSequenceModel`` instead (see docs/plugins.md).
    """

    name = "$name"
    description = "Items that follow the user's recent items in training (item-to-item)."
    config_cls = $config
    # bump when a change alters the numbers a fixed config and seed produce: the harness
    # then treats results of the old version as stale instead of averaging them with new ones
    version = 1

    def _fit(self, train: Sequences, validator: Validator | None) -> None:
        # Build every piece of state anew: fit may be called again on other data.
        # The model has no randomness, so self.seed is not needed (a model that has some
        # derives it from seqrec_bench.seeding.stream_seed(self.seed, purpose)).
        cfg = self.config
        n = train.n_items
        items, rows = train.items, train.user_index()
        sources, targets, weights = [], [], []
        for distance in range(1, cfg.window + 1):
            # pairs (items[p], items[p + distance]) inside one user's sequence
            same_user = rows[:-distance] == rows[distance:] if len(items) > distance else []
            first = np.flatnonzero(same_user)
            sources.append(items[first])
            targets.append(items[first + distance] - 1)
            weights.append(np.full(len(first), cfg.decay ** (distance - 1), dtype=np.float64))
        follows = sp.csr_matrix(
            (np.concatenate(weights), (np.concatenate(sources), np.concatenate(targets))),
            shape=(n + 1, n),  # row 0 is padding and stays empty
        )
        follows.sum_duplicates()
        totals = np.asarray(follows.sum(axis=1)).ravel()
        scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
        self._follows = (sp.diags(scale) @ follows).tocsr()
        pop = train.item_counts()[1:].astype(np.float64)
        self._popularity = pop / max(pop.sum(), 1.0)

    def _score(self, batch: Sequences) -> torch.Tensor:
        cfg = self.config
        scores = np.tile(cfg.popularity_weight * self._popularity, (batch.n_users, 1))
        for k in range(1, cfg.history + 1):
            recent = batch.last(k)  # 0 (padding, an empty row) when the sequence is shorter
            scores += cfg.history_decay ** (k - 1) * self._follows[recent].toarray()
        return torch.from_numpy(scores.astype(np.float32)).to(self.device)
'''

_TEST = '''\
"""Tests of the '$name' model: seqrec_bench's contract suite plus model-specific checks."""

from __future__ import annotations

import torch
from seqrec_bench.data import Sequences
from seqrec_bench.registry import get_model_class
from seqrec_bench.testing import ModelContract

from $module import $cls


class $test_cls(ModelContract):
    """Construction, config round-trip, fit/score shapes, determinism, refit, no leakage."""

    model_cls = $cls
    # NDCG@10 to reach on the planted "item i is followed by item i + 1" data set
    min_ndcg = 0.3


def test_the_successor_of_the_last_item_scores_highest():
    train = Sequences.from_lists([[1, 2, 3], [2, 3, 4], [3, 4, 5]], n_items=5)
    model = $cls().fit(train, seed=0)
    scores = model.score(Sequences.from_lists([[3]], n_items=5))
    assert int(torch.argmax(scores[0])) + 1 == 4


def test_the_entry_point_registers_the_model():
    # needs the package installed (pip install -e .), which is how seqrec_bench finds it
    assert get_model_class("$name") is $cls
'''

_README = """\
# $dist

A [seqrec_bench](https://pypi.org/project/seqrec-bench/) model plugin that registers the
model `$name`.

The generated model is a small but real item-to-item recommender (items that follow the
user's recent items in the training data). Replace it with your own model in
`$module/model.py`: keep the class attributes `name`, `description`, `config_cls` and the
two methods `_fit(train, validator)` and `_score(batch)`.

## Install and test

```bash
pip install -e .
pytest
```

The tests run seqrec_bench's contract suite (`seqrec_bench.testing.ModelContract`): default
construction, config round-trip, finite `(batch, n_items)` scores, same seed -> same scores,
refit resets state, the test items are never seen while fitting, and NDCG@10 on a planted
pattern (`min_ndcg`).

## Use

```bash
seqbench models                 # lists '$name' with its distribution and version
seqbench models $name           # its configuration: fields, types, defaults
seqbench run --models $name,pop --dataset synthetic
seqbench run --models $name --set $name.window=5
```

## Configuration

`$config` is a frozen dataclass; every field has a default and can be set with
`--set $name.FIELD=VALUE` or in an experiment TOML file. Describe each field in the
docstring's `Attributes:` section: `seqbench models $name` shows those descriptions.

## Publish

The entry point in `pyproject.toml` is all seqrec_bench needs:

```toml
[project.entry-points."seqrec_bench.models"]
$name = "$module:$cls"
```

Its key must equal the model's `name`. A plugin cannot replace a built-in model: if the
name is taken by a built-in, seqrec_bench warns and keeps the built-in.
"""

_TEMPLATES = {
    "pyproject.toml": _PYPROJECT,
    "README.md": _README,
    "$module/__init__.py": _INIT,
    "$module/model.py": _MODEL,
    "tests/test_$module.py": _TEST,
}
