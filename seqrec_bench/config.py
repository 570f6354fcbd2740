"""Run configuration: what a run is, where its defaults live, and how files and flags make one.

A :class:`RunConfig` (data sets x models x seeds under one protocol) comes from the command line,
from a TOML experiment file, or from Python; command-line flags given explicitly override the
file. This module is the single home of every run-level default (:data:`DEFAULT_KS`, the test,
the correction, alpha, the monitored validation metric).

Example ``experiment.toml``::

    seeds = [0, 1, 2]
    k = [5, 10, 20]
    protocol = "full"            # or sampled-uniform-100 / sampled-pop-100
    split = "loo"                # or "gts", the global temporal split (timestamped data)
    output = "results/my-grid"
    jobs = 2                     # cells run in parallel worker processes

    [gts]                        # only with split = "gts" (docs/protocol.md §2b)
    q = 0.9                      # or boundary = 893286638 (an explicit timestamp)
    target = "last"              # last | first | random | all
    valid = "by_time"            # by_time | by_users (valid_share = 0.1)

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

    [tune.transformer]           # seqbench tune --config: narrow or replace a search space
    lr = { low = 1e-4, high = 1e-3, log = true }
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqrec_bench.errors import ConfigError

__all__ = [
    "DEFAULT_KS",
    "DEFAULT_TEST",
    "DEFAULT_CORRECTION",
    "DEFAULT_ALPHA",
    "MONITOR_METRIC",
    "TESTS",
    "CORRECTIONS",
    "DatasetSpec",
    "ModelSpec",
    "SplitSpec",
    "SPLITS",
    "RunConfig",
    "ExperimentError",
    "parse_set_options",
    "parse_model_list",
    "load_run_config",
    "parse_run_config",
    "default_output_dir",
    "table_metrics",
    "stored_metrics",
    "merge_cli",
    "parse_key_values",
]

#: Cut-offs of HR@k / NDCG@k when none are given.
DEFAULT_KS: tuple[int, ...] = (5, 10, 20)
#: Paired test over users (a name in :data:`seqrec_bench.stats.TESTS`).
DEFAULT_TEST = "ttest"
#: Multiple-comparison correction (a name in :data:`seqrec_bench.stats.CORRECTIONS`).
DEFAULT_CORRECTION = "holm"
#: Significance level.
DEFAULT_ALPHA = 0.05
#: The validation metric early stopping and model selection maximise.
MONITOR_METRIC = "NDCG@10"
TESTS = ("ttest", "permutation", "wilcoxon")
#: Where cells run: this machine (in-process or ``jobs`` worker processes), or Ray tasks.
EXECUTORS = ("local", "ray")
CORRECTIONS = ("holm", "bonferroni", "bh", "none")


class ExperimentError(ConfigError):
    """A malformed experiment file (one-line message naming the file and the key)."""


#: The splits a run can use: leave-one-out (PROTOCOL §2, the default) and the global temporal
#: split (PROTOCOL §2b).
SPLITS = ("loo", "gts")


@dataclass
class SplitSpec:
    """How every data set of a run is split (docs/protocol.md §2 and §2b).

    Attributes:
        kind: ``"loo"`` (leave-one-out) or ``"gts"`` (global temporal split).
        q: the gts boundary quantile of all timestamps (and of ``T_v`` under ``by_time``).
        boundary: an explicit gts boundary timestamp instead of the ``q``-quantile.
        target: gts test (and validation) target: ``last``, ``first``, ``random`` or ``all``.
        valid: gts validation: ``by_time`` (a second boundary) or ``by_users`` (held-out users).
        valid_share: the share of users held out under ``by_users``.
        seed: the seed of the split's own draws (``random`` targets, ``by_users``); fixed for
            every model seed, so all seeds rank the same (user, target) pairs.

    Example:
        >>> SplitSpec("gts", target="all").options()
        {'q': 0.9, 'boundary': None, 'target': 'all', 'valid': 'by_time'}
        >>> SplitSpec().options() is None
        True
    """

    kind: str = "loo"
    q: float = 0.9
    boundary: float | None = None
    target: str = "last"
    valid: str = "by_time"
    valid_share: float = 0.1
    seed: int = 0

    @property
    def name(self) -> str:
        """The split as recorded in each cell's key: ``leave-one-out`` or ``gts``."""
        return "leave-one-out" if self.kind == "loo" else "gts"

    def options(self) -> dict[str, Any] | None:
        """The gts settings that change what is computed (a cell-key field); ``None`` for loo.

        ``valid_share`` appears only under ``by_users`` and ``seed`` only where a draw uses it,
        so settings that change nothing never re-key a cell.
        """
        if self.kind == "loo":
            return None
        out: dict[str, Any] = {
            "q": self.q,
            "boundary": self.boundary,
            "target": self.target,
            "valid": self.valid,
        }
        if self.valid == "by_users":
            out["valid_share"] = self.valid_share
        if self.valid == "by_users" or self.target == "random":
            out["seed"] = self.seed
        return out

    def check(self) -> None:
        """Raise :class:`ConfigError` for settings that cannot split (one line each)."""
        from seqrec_bench.data.temporal import GTS_TARGETS, GTS_VALID

        if self.kind not in SPLITS:
            raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, not {self.kind!r}")
        if self.kind == "loo":
            return
        if self.target not in GTS_TARGETS:
            raise ConfigError(
                f"--gts-target must be one of {', '.join(GTS_TARGETS)}, not {self.target!r}"
            )
        if self.valid not in GTS_VALID:
            raise ConfigError(
                f"--gts-valid must be one of {', '.join(GTS_VALID)}, not {self.valid!r}"
            )
        if not 0.0 < self.q <= 1.0:
            raise ConfigError(f"--gts-q must lie in (0, 1], not {self.q}")
        if not 0.0 < self.valid_share < 1.0:
            raise ConfigError(f"--gts-valid-share must lie in (0, 1), not {self.valid_share}")


@dataclass
class DatasetSpec:
    """A data set of a run: a named data set or a file, with its preprocessing options.

    Attributes:
        source: ``"ml-1m"``, ``"synthetic"``, or a path.
        label: the name shown in tables (defaults to the source's name).
        format: ``interactions``/``sequences`` for files (``None`` = auto-detect).
        data_dir: where already-downloaded files are.
        options: preprocessing options passed to :func:`seqrec_bench.data.load_dataset`
            (``min_rating``, ``min_user_interactions``, ``min_item_interactions``, ``columns``,
            ``synthetic``).
    """

    source: str
    label: str | None = None
    format: str | None = None
    data_dir: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The label in tables: the given label, else the file name, else the named data set."""
        if self.label:
            return self.label
        return (
            Path(self.source).name
            if os.sep in self.source or Path(self.source).suffix
            else self.source
        )


@dataclass
class ModelSpec:
    """A model row of a run: a registered model under a label, with config overrides.

    ``ModelSpec("transformer-bce", "transformer", {"loss": "bce"})`` runs the transformer with
    the BCE loss and shows it as ``transformer-bce``.

    Attributes:
        label: the row's name in tables (and in the results folder).
        model: the registered model name.
        overrides: typed values (TOML, Python), checked strictly against the config's types.
        set_options: ``--set`` strings, parsed by each field's type.
        origin: where the row was defined (named in error messages), e.g. ``exp.toml [models.gru]``.
    """

    label: str
    model: str
    overrides: dict[str, Any] = field(default_factory=dict)
    set_options: dict[str, str] = field(default_factory=dict)
    origin: str = ""


@dataclass
class RunConfig:
    """Everything that defines a run (the CLI and experiment files both build one).

    ``jobs``, ``threads``, ``device`` and the executor settings (``executor``, ``ray_address``,
    ``cpus_per_cell``, ``gpus_per_cell``, ``max_concurrent``, ``retries``) say *where* cells run;
    everything else says *what* they compute (and ends up in each cell's key). ``controls``
    adds, for every model row, a row of the same model under each control (``shuffle``:
    ``"transformer [shuffled]"``). ``deterministic`` runs every cell with torch's deterministic
    algorithms (:func:`~seqrec_bench.training.set_deterministic`): a *how* setting, recorded in
    the manifest and in each cell's environment but not in cell keys (the CPU computes the same
    numbers either way).
    """

    datasets: list[DatasetSpec]
    models: list[ModelSpec]
    seeds: list[int] = field(default_factory=lambda: [0])
    ks: list[int] = field(default_factory=lambda: list(DEFAULT_KS))
    protocol: str = "full"
    exclude_seen: bool = True
    device: str = "auto"
    output: Path | None = None
    reference: str | None = None
    test: str = DEFAULT_TEST
    correction: str = DEFAULT_CORRECTION
    alpha: float = DEFAULT_ALPHA
    jobs: int = 1
    threads: int | None = None
    executor: str = "local"
    ray_address: str | None = None
    cpus_per_cell: float = 1.0
    gpus_per_cell: float | None = None
    max_concurrent: int | None = None
    retries: int = 2
    controls: list[str] = field(default_factory=list)
    split: SplitSpec = field(default_factory=SplitSpec)
    #: set by ``seqbench run --tuned DIR``: how the configs were tuned (card and footnote)
    tuning: dict[str, Any] | None = None
    deterministic: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able settings (stored in the manifest)."""
        d = dataclasses.asdict(self)
        d["output"] = str(self.output) if self.output else None
        return d

    def check(self) -> None:
        """Raise :class:`ConfigError` for settings that cannot run (before any data loads)."""
        from seqrec_bench.evaluation.sampling import parse_protocol

        try:
            parse_protocol(self.protocol)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.split.check()
        if self.split.kind == "gts" and not self.protocol.startswith("full"):
            # PROTOCOL §3 defines sampled negatives per user of a leave-one-out split; under gts a
            # user may own several targets and the stream would be a new, undocumented protocol
            raise ConfigError(
                f"--protocol {self.protocol} is defined for the leave-one-out split only; "
                "use --protocol full with --split gts"
            )
        if not self.models:
            raise ConfigError("no models given; e.g. --models transformer,gru,markov")
        if not self.datasets:
            raise ConfigError("no data set given; e.g. --dataset synthetic")
        if not self.seeds:
            raise ConfigError("no seeds given; e.g. --seeds 0,1,2")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds repeat: {', '.join(map(str, self.seeds))}")
        if not self.ks or min(self.ks) < 1:
            raise ConfigError("--k values must be >= 1")
        labels = [m.label for m in self.models]
        for label in labels:
            if labels.count(label) > 1:
                raise ConfigError(
                    f"model label {label!r} is used twice; give each row its own label"
                )
        names = [d.name for d in self.datasets]
        for name in names:
            if names.count(name) > 1:
                raise ConfigError(
                    f"data set label {name!r} is used twice; give each a distinct label"
                )
        if self.test not in TESTS:
            raise ConfigError(f"test must be one of {', '.join(TESTS)}, not {self.test!r}")
        if self.correction not in CORRECTIONS:
            raise ConfigError(
                f"correction must be one of {', '.join(CORRECTIONS)}, not {self.correction!r}"
            )
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"alpha must lie in (0, 1), not {self.alpha}")
        if self.jobs < 1:
            raise ConfigError(f"--jobs must be >= 1, not {self.jobs}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, not {self.threads}")
        from seqrec_bench.data.controls import CONTROLS

        for control in self.controls:
            if control not in CONTROLS:
                raise ConfigError(
                    f"--control must be one of {', '.join(CONTROLS)}, not {control!r}"
                )
        if self.executor not in EXECUTORS:
            raise ConfigError(
                f"--executor must be one of {', '.join(EXECUTORS)}, not {self.executor!r}"
            )
        if self.executor != "ray" and (self.ray_address or self.gpus_per_cell is not None):
            raise ConfigError("--ray-address and --gpus-per-cell need --executor ray")


def table_metrics(ks: list[int] | tuple[int, ...]) -> list[str]:
    """The metric columns of a run's table: HR@k then NDCG@k for every k."""
    from seqrec_bench.evaluation.metrics import metric_labels

    return metric_labels(sorted(set(ks)), ("HR", "NDCG"))


def stored_metrics(ks: list[int] | tuple[int, ...]) -> list[str]:
    """Every metric stored per cell (the table's, MRR, and the monitored validation metric)."""
    from seqrec_bench.evaluation.metrics import metric_labels

    ks = sorted(set(ks))
    labels = metric_labels(ks, ("HR", "NDCG", "MRR")) + ["MRR"]
    if MONITOR_METRIC not in labels:
        labels.append(MONITOR_METRIC)
    return labels


def parse_set_options(values: list[str]) -> dict[str, dict[str, str]]:
    """``["transformer.lr=1e-3", "gru.hidden=128"]`` -> ``{"transformer": {"lr": "1e-3"}, ...}``.

    Example:
        >>> parse_set_options(["transformer.lr=3e-4"])
        {'transformer': {'lr': '3e-4'}}

    Raises:
        ConfigError: for entries not shaped ``MODEL.PARAM=VALUE``.
    """
    out: dict[str, dict[str, str]] = {}
    for item in values:
        key, eq, value = item.partition("=")
        model, dot, param = key.strip().partition(".")
        if not eq or not dot or not model or not param:
            raise ConfigError(
                f"--set expects MODEL.PARAM=VALUE (e.g. transformer.lr=0.001), got {item!r}"
            )
        out.setdefault(model.lower(), {})[param.strip()] = value.strip()
    return out


def parse_model_list(text: str) -> list[ModelSpec]:
    """``"transformer,markov5=markov"`` -> model rows; ``LABEL=MODEL`` gives a variant its own label.

    Example:
        >>> [(m.label, m.model) for m in parse_model_list("gru, markov-a5=markov")]
        [('gru', 'gru'), ('markov-a5', 'markov')]
    """
    specs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        label, eq, model = part.partition("=")
        label, model = label.strip().lower(), (model.strip() if eq else label.strip()).lower()
        if not label or not model:
            raise ConfigError(f"--models expects NAME or LABEL=NAME, got {part!r}")
        specs.append(ModelSpec(label=label, model=model))
    return specs


def default_output_dir(cfg: RunConfig, base: Path = Path("results")) -> Path:
    """A folder named after the data and protocol, so rerunning a command resumes it.

    Adding a model, a seed or a config variant to the same data and protocol reuses the folder
    (cells are addressed by their config, so nothing is overwritten); a different data set or
    protocol gets a new one.
    """
    from seqrec_bench.store import config_hash

    names = "+".join(d.name for d in cfg.datasets)
    key = config_hash(
        {
            "datasets": [dataclasses.asdict(d) for d in cfg.datasets],
            "protocol": cfg.protocol,
            "exclude_seen": cfg.exclude_seen,
            # absent for leave-one-out, so existing default folders keep their names
            **({"split": dataclasses.asdict(cfg.split)} if cfg.split.kind != "loo" else {}),
        }
    )[:8]
    safe = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in names)
    split = "" if cfg.split.kind == "loo" else f"-{cfg.split.kind}"
    return base / f"run-{safe}{split}-{cfg.protocol}-{key}"


# -- experiment files -------------------------------------------------------------------------
_TOP = {
    "seeds", "k", "protocol", "exclude_seen", "device", "output", "stats", "datasets",
    "models", "jobs", "threads", "executor", "ray_address", "cpus_per_cell", "gpus_per_cell",
    "max_concurrent", "retries", "controls", "split", "gts", "tune", "deterministic",
}  # fmt: skip
_STATS = {"reference", "test", "correction", "alpha"}
#: The keys of an experiment file's ``[gts]`` table: key -> type.
_GTS_TYPES = {
    "q": "float",
    "boundary": "float",
    "target": "str",
    "valid": "str",
    "valid_share": "float",
    "seed": "int",
}
_DATASET = {
    "source", "label", "format", "data_dir", "min_rating", "min_user_interactions",
    "min_item_interactions", "columns", "synthetic", "duplicates", "tie_order",
}  # fmt: skip


#: The top-level keys of an experiment file with a plain type: key -> (RunConfig field, type).
_TOP_TYPES = {
    "seeds": ("seeds", "ints"),
    "k": ("ks", "ints"),
    "protocol": ("protocol", "str"),
    "device": ("device", "str"),
    "exclude_seen": ("exclude_seen", "bool"),
    "jobs": ("jobs", "int"),
    "threads": ("threads", "int"),
    "executor": ("executor", "str"),
    "ray_address": ("ray_address", "str"),
    "cpus_per_cell": ("cpus_per_cell", "float"),
    "gpus_per_cell": ("gpus_per_cell", "float"),
    "max_concurrent": ("max_concurrent", "int"),
    "retries": ("retries", "int"),
    "deterministic": ("deterministic", "bool"),
}

#: The types of the data set keys of an experiment file (checked with the file and key named).
_DATASET_TYPES = {
    "min_rating": "float",
    "min_user_interactions": "int",
    "min_item_interactions": "int",
    "duplicates": "str",
    "tie_order": "str",
}


def _check_keys(keys: Any, valid: set[str], where: str, origin: str) -> None:
    unknown = sorted(set(keys) - valid)
    if unknown:
        raise ExperimentError(
            f"{origin}: unknown key(s) {', '.join(unknown)} in {where}; "
            f"valid keys: {', '.join(sorted(valid))}"
        )


def _typed(value: Any, kind: str, key: str, origin: str) -> Any:
    """``value`` checked against ``kind`` (``int``, ``float``, ``bool``, ``str``, ``ints``)."""

    def bad(expected: str) -> ExperimentError:
        return ExperimentError(
            f"{origin}: {key} expects {expected}, got {value!r} ({type(value).__name__})"
        )

    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if kind == "ints":
        example = "[5, 10, 20]" if key == "k" else "[0, 1, 2]"
        if not isinstance(value, list) or not value:
            raise bad(f"a non-empty list of integers, e.g. {key} = {example}")
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int):
                raise bad(f"a non-empty list of integers, e.g. {key} = {example}")
        return list(value)
    raise AssertionError(kind)


def load_run_config(path: str | Path) -> RunConfig:
    """Read an experiment TOML file into a :class:`RunConfig`.

    Raises:
        ExperimentError: unreadable TOML, unknown keys (listing the valid ones), bad values
            (naming the file, the key and the expected type).
    """
    path = Path(path)
    if not path.is_file():
        raise ExperimentError(f"experiment file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path}: invalid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"{path}: cannot read ({exc})") from None
    return parse_run_config(data, base_dir=path.parent, origin=str(path))


def parse_run_config(
    data: dict[str, Any], *, base_dir: Path = Path("."), origin: str = "experiment"
) -> RunConfig:
    """Build a :class:`RunConfig` from parsed TOML (see the module docstring for the schema)."""
    _check_keys(data, _TOP, "the top level", origin)
    datasets = []
    raw_datasets = data.get("datasets") or []
    if not isinstance(raw_datasets, list) or not raw_datasets:
        raise ExperimentError(f"{origin}: needs at least one [[datasets]] table with a source")
    for i, d in enumerate(raw_datasets):
        if not isinstance(d, dict):
            raise ExperimentError(f"{origin}: datasets[{i}] must be a table")
        _check_keys(d, _DATASET, f"datasets[{i}]", origin)
        if "source" not in d:
            raise ExperimentError(
                f"{origin}: datasets[{i}] has no source (a named data set or a path)"
            )
        source = _typed(d["source"], "str", f"datasets[{i}].source", origin)
        candidate = base_dir / source
        is_path = "/" in source or "." in Path(source).name
        if not Path(source).is_absolute() and is_path and candidate.exists():
            source = str(candidate)  # paths are relative to the experiment file
        options = {k: d[k] for k in d if k not in {"source", "label", "format", "data_dir"}}
        for key, kind in _DATASET_TYPES.items():
            if key in options:
                _typed(options[key], kind, f"datasets[{i}].{key}", origin)
        for key in ("columns", "synthetic"):
            if key in options and not isinstance(options[key], dict):
                raise ExperimentError(
                    f"{origin}: datasets[{i}].{key} expects a table, e.g. {key} = {{ ... }}, "
                    f"got {options[key]!r}"
                )
        data_dir = d.get("data_dir")
        if data_dir is not None:
            data_dir = _typed(data_dir, "str", f"datasets[{i}].data_dir", origin)
            if not Path(data_dir).is_absolute() and (base_dir / data_dir).exists():
                data_dir = str(base_dir / data_dir)
        label = d.get("label")
        fmt = d.get("format")
        datasets.append(
            DatasetSpec(
                source=source,
                label=None
                if label is None
                else _typed(label, "str", f"datasets[{i}].label", origin),
                format=None if fmt is None else _typed(fmt, "str", f"datasets[{i}].format", origin),
                data_dir=data_dir,
                options=options,
            )
        )
    models = []
    raw_models = data.get("models") or {}
    if not isinstance(raw_models, dict) or not raw_models:
        raise ExperimentError(f"{origin}: needs at least one [models.NAME] table")
    for label, params in raw_models.items():
        if params is not None and not isinstance(params, dict):
            raise ExperimentError(f"{origin}: models.{label} must be a table")
        params = dict(params or {})
        model = _typed(params.pop("model", label), "str", f"models.{label}.model", origin)
        models.append(
            ModelSpec(
                label=label,
                model=model.lower(),
                overrides=params,
                origin=f"{origin} [models.{label}]",
            )
        )
    stats = data.get("stats") or {}
    if not isinstance(stats, dict):
        raise ExperimentError(f"{origin}: stats must be a table")
    _check_keys(stats, _STATS, "[stats]", origin)
    cfg = RunConfig(datasets=datasets, models=models)
    for key, (attr, kind) in _TOP_TYPES.items():
        if key in data:
            setattr(cfg, attr, _typed(data[key], kind, key, origin))
    if "controls" in data:
        controls = data["controls"]
        if not isinstance(controls, list) or not all(isinstance(c, str) for c in controls):
            raise ExperimentError(
                f'{origin}: controls expects a list of strings, e.g. controls = ["shuffle"], '
                f"got {controls!r}"
            )
        cfg.controls = list(controls)
    if "split" in data:
        cfg.split.kind = _typed(data["split"], "str", "split", origin)
    gts = data.get("gts") or {}
    if not isinstance(gts, dict):
        raise ExperimentError(f"{origin}: gts must be a table, e.g. [gts] q = 0.9")
    _check_keys(gts, set(_GTS_TYPES), "[gts]", origin)
    if gts and cfg.split.kind != "gts":
        raise ExperimentError(f'{origin}: a [gts] table needs split = "gts"')
    for key, kind in _GTS_TYPES.items():
        if key in gts:
            setattr(cfg.split, key, _typed(gts[key], kind, f"gts.{key}", origin))
    try:
        cfg.split.check()
    except ConfigError as exc:
        raise ExperimentError(f"{origin}: {exc}".replace("--gts-", "gts.")) from None
    if "output" in data:
        out = Path(_typed(data["output"], "str", "output", origin))
        cfg.output = out if out.is_absolute() else base_dir / out
    if stats.get("reference") is not None:
        cfg.reference = _typed(stats["reference"], "str", "stats.reference", origin) or None
    if "test" in stats:
        cfg.test = _typed(stats["test"], "str", "stats.test", origin)
    if "correction" in stats:
        cfg.correction = _typed(stats["correction"], "str", "stats.correction", origin)
    if "alpha" in stats:
        cfg.alpha = _typed(stats["alpha"], "float", "stats.alpha", origin)
    if cfg.test not in TESTS:
        raise ExperimentError(
            f"{origin}: [stats] test must be {', '.join(TESTS)}, not {cfg.test!r}"
        )
    if cfg.correction not in CORRECTIONS:
        raise ExperimentError(
            f"{origin}: [stats] correction must be {', '.join(CORRECTIONS)}, not {cfg.correction!r}"
        )
    return cfg


# -- command-line flags over a file -----------------------------------------------------------
def parse_key_values(items: list[str], option: str) -> dict[str, str]:
    """``["n_users=500"]`` -> ``{"n_users": "500"}`` (``--synthetic``); one line naming ``option`` else.

    Example:
        >>> parse_key_values(["n_users=500"], "--synthetic")
        {'n_users': '500'}
    """
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"{option} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def merge_cli(base: RunConfig | None, flags: dict[str, Any], given: set[str]) -> RunConfig:
    """The run of ``seqbench run``: an experiment file's config (or none) with the flags over it.

    Without a file every flag applies (its default included); with one, only the flags given
    on the command line override the file.

    Args:
        base: the experiment file's config, or ``None``.
        flags: every ``run`` option by name (``models``, ``dataset``, ``seeds``, ``k``, ...;
            comma lists as strings, ``set`` and ``synthetic`` as lists of ``KEY=VALUE``).
        given: the names of the options given on the command line.
    """

    def use(name: str) -> bool:
        return base is None or name in given

    cfg = base or RunConfig(datasets=[DatasetSpec(source=flags["dataset"])], models=[])
    if use("models"):
        cfg.models = parse_model_list(flags.get("models") or "")
        if not cfg.models:
            raise ConfigError(
                "no models given; e.g. --models transformer,gru,markov (see `seqbench models`)"
            )
    if base is not None and "dataset" in given:
        cfg.datasets = [DatasetSpec(source=flags["dataset"])]
    for ds in cfg.datasets:
        if use("fmt") and flags.get("fmt"):
            ds.format = flags["fmt"]
        if flags.get("data_dir") is not None:
            ds.data_dir = str(flags["data_dir"])
    synthetic = parse_key_values(flags.get("synthetic") or [], "--synthetic")
    for ds in cfg.datasets:
        if synthetic:
            if ds.source != "synthetic":
                raise ConfigError("--synthetic options only apply to --dataset synthetic")
            ds.options["synthetic"] = {**ds.options.get("synthetic", {}), **synthetic}
        for opt in (
            "min_rating", "min_user_interactions", "min_item_interactions", "duplicates",
            "tie_order",
        ):  # fmt: skip
            if flags.get(opt) is not None:
                ds.options[opt] = flags[opt]
        if flags.get("columns"):
            from seqrec_bench.data import parse_columns

            ds.options["columns"] = parse_columns(flags["columns"])
    for name, attr in (("seeds", "seeds"), ("k", "ks")):
        if use(name):
            setattr(cfg, attr, _int_list(flags[name], f"--{name}"))
    for name in ("protocol", "exclude_seen", "device", "reference", "test", "correction", "alpha"):
        if use(name) and name in flags:
            setattr(cfg, name, flags[name])
    for name in (
        "jobs", "threads", "executor", "ray_address", "cpus_per_cell", "gpus_per_cell",
        "max_concurrent", "retries", "deterministic",
    ):  # fmt: skip
        if name in flags and (name in given or (base is None and flags.get(name) is not None)):
            setattr(cfg, name, flags[name])
    if use("split") and flags.get("split") is not None:
        cfg.split.kind = flags["split"]
    for name in ("q", "boundary", "target", "valid", "valid_share", "seed"):
        flag = f"gts_{name}"
        if flags.get(flag) is not None:
            if cfg.split.kind != "gts":
                option = "--" + flag.replace("_", "-")
                raise ConfigError(f"{option} needs --split gts")
            setattr(cfg.split, name, flags[flag])
    if flags.get("output") is not None:
        cfg.output = Path(flags["output"])
    if flags.get("control"):
        cfg.controls = list(dict.fromkeys([*cfg.controls, *flags["control"]]))
    overrides = parse_set_options(flags.get("set") or [])
    labels = {m.label for m in cfg.models}
    known = labels | {m.model for m in cfg.models}
    for name, params in overrides.items():
        if name not in known:
            raise ConfigError(
                f"--set names model {name!r}, which is not in this run ({', '.join(sorted(known))})"
            )
        for m in cfg.models:
            # a label names one row; a model name names every row of that model
            if name == m.label or (name == m.model and name not in labels):
                m.set_options.update(params)
    return cfg


def _int_list(value: Any, option: str) -> list[int]:
    if isinstance(value, list):
        return [int(v) for v in value]
    try:
        items = [int(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} expects comma-separated integers, got {value!r}") from None
    if not items:
        raise ConfigError(f"{option} needs at least one value")
    return items
