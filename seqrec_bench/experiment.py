"""Experiment files: a grid of datasets x models x seeds in TOML.

Example ``experiment.toml``::

    seeds = [0, 1, 2]
    k = [5, 10, 20]
    protocol = "full"            # or sampled-uniform-100 / sampled-pop-100
    output = "results/my-grid"

    [stats]
    test = "ttest"               # ttest | permutation | wilcoxon
    correction = "holm"          # holm | bonferroni | bh | none
    alpha = 0.05

    [[datasets]]
    source = "ml-1m"             # a named data set or a path (relative to this file)

    [[datasets]]
    source = "data/Beauty.txt"
    label = "Beauty"
    format = "sequences"

    [models.transformer]         # the table label; the model defaults to the label
    [models.transformer-bce]     # a named variant of one model
    model = "transformer"
    loss = "bce"
    [models.markov]
    [models.pop]

Flags given on the ``seqbench run`` command line override the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from seqrec_bench.runner import DatasetSpec, ModelSpec, RunConfig

__all__ = ["load_experiment", "parse_experiment", "ExperimentError"]


class ExperimentError(ValueError):
    """A malformed experiment file (one-line message naming the file and the key)."""


_TOP = {"seeds", "k", "protocol", "exclude_seen", "device", "output", "stats", "datasets", "models"}
_STATS = {"reference", "test", "correction", "alpha"}
_DATASET = {
    "source",
    "label",
    "format",
    "data_dir",
    "min_rating",
    "min_user_interactions",
    "min_item_interactions",
    "columns",
    "synthetic",
}


def _check(keys, valid: set[str], where: str, origin: str) -> None:
    unknown = sorted(set(keys) - valid)
    if unknown:
        raise ExperimentError(
            f"{origin}: unknown key(s) {', '.join(unknown)} in {where}; valid keys: {', '.join(sorted(valid))}"
        )


def load_experiment(path: str | Path) -> RunConfig:
    """Read an experiment TOML file into a :class:`RunConfig`.

    Raises:
        ExperimentError: unreadable TOML, unknown keys (listing the valid ones), bad values.
    """
    path = Path(path)
    if not path.exists():
        raise ExperimentError(f"experiment file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path}: invalid TOML ({exc})") from None
    return parse_experiment(data, base_dir=path.parent, origin=str(path))


def parse_experiment(
    data: dict[str, Any], *, base_dir: Path = Path("."), origin: str = "experiment"
) -> RunConfig:
    """Build a :class:`RunConfig` from parsed TOML (see the module docstring for the schema)."""
    _check(data, _TOP, "the top level", origin)
    datasets = []
    raw_datasets = data.get("datasets") or []
    if not isinstance(raw_datasets, list) or not raw_datasets:
        raise ExperimentError(f"{origin}: needs at least one [[datasets]] table with a source")
    for i, d in enumerate(raw_datasets):
        _check(d, _DATASET, f"datasets[{i}]", origin)
        if "source" not in d:
            raise ExperimentError(
                f"{origin}: datasets[{i}] has no source (a named data set or a path)"
            )
        source = str(d["source"])
        candidate = base_dir / source
        if (
            not Path(source).is_absolute()
            and ("/" in source or "." in Path(source).name)
            and candidate.exists()
        ):
            source = str(candidate)  # paths are relative to the experiment file
        options = {k: d[k] for k in d if k not in {"source", "label", "format", "data_dir"}}
        data_dir = d.get("data_dir")
        if data_dir and not Path(data_dir).is_absolute() and (base_dir / data_dir).exists():
            data_dir = str(base_dir / data_dir)
        datasets.append(
            DatasetSpec(
                source=source,
                label=d.get("label"),
                format=d.get("format"),
                data_dir=data_dir,
                options=options,
            )
        )
    models = []
    raw_models = data.get("models") or {}
    if not isinstance(raw_models, dict) or not raw_models:
        raise ExperimentError(f"{origin}: needs at least one [models.NAME] table")
    for label, params in raw_models.items():
        params = dict(params or {})
        model = str(params.pop("model", label))
        models.append(ModelSpec(label=label, model=model.lower(), overrides=params))
    stats = data.get("stats") or {}
    _check(stats, _STATS, "[stats]", origin)
    cfg = RunConfig(datasets=datasets, models=models)
    if "seeds" in data:
        cfg.seeds = [int(s) for s in data["seeds"]]
    if "k" in data:
        cfg.ks = [int(k) for k in data["k"]]
    for key in ("protocol", "device"):
        if key in data:
            setattr(cfg, key, str(data[key]))
    if "exclude_seen" in data:
        cfg.exclude_seen = bool(data["exclude_seen"])
    if "output" in data:
        out = Path(data["output"])
        cfg.output = out if out.is_absolute() else base_dir / out
    cfg.reference = stats.get("reference") or None
    cfg.test = stats.get("test", cfg.test)
    cfg.correction = stats.get("correction", cfg.correction)
    cfg.alpha = float(stats.get("alpha", cfg.alpha))
    if cfg.test not in ("ttest", "permutation", "wilcoxon"):
        raise ExperimentError(
            f"{origin}: [stats] test must be ttest, permutation or wilcoxon, not {cfg.test!r}"
        )
    if cfg.correction not in ("holm", "bonferroni", "bh", "none"):
        raise ExperimentError(
            f"{origin}: [stats] correction must be holm, bonferroni, bh or none, not {cfg.correction!r}"
        )
    return cfg
