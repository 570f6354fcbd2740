"""The comparison report of PROTOCOL §5: per-user ranks in, a self-rendering table out.

A :class:`Report` is computed once from the stored per-user test ranks and then renders itself
(rich, Markdown, LaTeX, CSV, JSON). Everything a cell shows is derived here, so every format
shows the same numbers:

- cell = mean over seeds of the mean metric over users (± sample std over seeds when > 1 seed);
- per-user values for the tests = the per-user metric averaged over seeds;
- reference = the given model, or the best model of the column (one dataset + one metric);
- a paired test of every other model against the reference over users, corrected for multiple
  comparisons within the column; a cell is marked when its adjusted p-value is below alpha;
- effect sizes: relative difference to the reference in %, and a 95% percentile bootstrap CI
  of the paired mean difference (model - reference), always computed into :meth:`summary`,
  :meth:`to_json` and :meth:`to_csv` (``ci_low``, ``ci_high``) and shown in the tables only
  with ``bootstrap=True`` (the CLI's ``--ci``).

Example:
    >>> import numpy as np
    >>> ranks = {"ml-1m": {"sasrec": [np.array([1, 2, 30, 4])], "pop": [np.array([9, 40, 50, 3])]}}
    >>> report = Report.from_ranks(ranks, metrics=["HR@10"])
    >>> report.cell("pop", "HR@10").mean, report.reference("HR@10")
    (0.5, 'sasrec')
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seqrec_bench.errors import ConfigError
from seqrec_bench.evaluation.evaluator import per_user_values
from seqrec_bench.evaluation.metrics import Metric, parse_metric
from seqrec_bench.stats import CORRECTIONS, TESTS, TestResult, bootstrap_cis

if TYPE_CHECKING:
    from rich.console import Console, Group

__all__ = ["Report", "CellResult", "Improvement"]

#: Resamples of the bootstrap CI (PROTOCOL §5 fixes the 95% level); the default of
#: ``Report.from_ranks(bootstrap_resamples=...)``.
BOOTSTRAP_RESAMPLES = 10000
BOOTSTRAP_CONFIDENCE = 0.95

#: Card keys the Report writes itself; a caller's card may not set them.
_OWN_CARD_KEYS = ("test", "correction", "alpha", "bootstrap")

Ranks = Mapping[str, Mapping[str, Sequence[np.ndarray] | np.ndarray]]
ExtraColumns = Mapping[str, Mapping[str, Mapping[str, float]]]


@dataclass(frozen=True)
class CellResult:
    """Everything known about one table cell (one dataset, model and metric).

    Attributes:
        dataset: dataset name.
        model: model name.
        metric: metric label, e.g. ``"NDCG@10"``.
        mean: mean over seeds of the mean over users.
        std: sample standard deviation (ddof=1) of the per-seed means; ``None`` for one seed.
        n_seeds: number of seeds.
        reference: the reference model of this column.
        pvalue: raw p-value of the paired test against the reference (``None`` on the
            reference itself).
        pvalue_adj: p-value adjusted across the comparisons of this column.
        significant: ``pvalue_adj < alpha`` (``None`` on the reference).
        rel_diff_pct: ``100 * (mean - reference mean) / reference mean``; ``None`` when the
            reference mean is 0.
        ci_low: lower end of the bootstrap CI of the mean per-user difference to the
            reference (``None`` on the reference itself, or with ``bootstrap_resamples=0``).
        ci_high: upper end of that CI.
        place: 1 for the best value of the column, 2 for the second best, else ``None``;
            judged on the values as displayed (rounded), so equal-looking cells share a place.
    """

    dataset: str
    model: str
    metric: str
    mean: float
    std: float | None
    n_seeds: int
    reference: str
    pvalue: float | None = None
    pvalue_adj: float | None = None
    significant: bool | None = None
    rel_diff_pct: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    place: int | None = None

    @property
    def is_reference(self) -> bool:
        """Whether this cell is the reference of its column."""
        return self.model == self.reference


@dataclass(frozen=True)
class Improvement:
    """Relative improvement of one model over the best other model in one column.

    Attributes:
        dataset: dataset name.
        metric: metric label.
        model: the model whose improvement is reported.
        over: the best other model; ``None`` when ``model`` has no result on this dataset.
        pct: ``100 * (mean - other mean) / other mean`` (sign flipped for lower-is-better
            metrics, so positive is always better); ``None`` when undefined.
    """

    dataset: str
    metric: str
    model: str
    over: str | None
    pct: float | None


def _seed_list(value: Sequence[np.ndarray] | np.ndarray, where: str) -> list[np.ndarray]:
    # A bare 1-d array is one seed, a 2-d array is (seeds, users); anything else is a list.
    if isinstance(value, np.ndarray):
        if value.ndim == 1:
            value = [value]
        elif value.ndim != 2:
            raise ValueError(f"{where}: rank arrays must be 1-d, got shape {value.shape}")
    seeds = [np.asarray(r) for r in value]
    if not seeds:
        raise ValueError(f"{where}: no rank arrays (need one per seed)")
    for i, r in enumerate(seeds):
        if r.ndim != 1:
            raise ValueError(f"{where}, seed {i}: rank arrays must be 1-d, got shape {r.shape}")
        if r.dtype.kind not in "iu" and not (
            r.dtype.kind == "f" and np.all(np.isfinite(r)) and np.all(r == np.round(r))
        ):
            raise ValueError(f"{where}, seed {i}: ranks must be integers")
    return seeds


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _as_float(v: float | None) -> float:
    # A missing measurement (None) is kept as NaN and rendered as "–".
    return math.nan if v is None else float(v)


def _shown(x: float, decimals: int) -> float:
    """The value a reader sees in the table, as a number."""
    return float(f"{x:.{decimals}f}")


def _places(means: dict[str, float], decimals: int, higher: bool) -> dict[str, int]:
    """Best (1) and second-best (2) models by displayed value; ties share a place."""
    shown = sorted({_shown(v, decimals) for v in means.values()}, reverse=higher)
    place = {value: i + 1 for i, value in enumerate(shown[:2])}
    return {m: place[_shown(v, decimals)] for m, v in means.items() if _shown(v, decimals) in place}


def _best(means: dict[str, float], higher: bool) -> str:
    # max/min keep the first of equal values, i.e. the first model in the caller's order.
    return (max if higher else min)(means, key=means.__getitem__)


class Report:
    """A comparison table of models on one or more datasets, with significance markers.

    Build it with :meth:`from_ranks`; the constructor takes already computed parts. A report is
    immutable once built; each renderer reads the same computed cells.

    Example:
        >>> import numpy as np
        >>> ranks = {"beauty": {"a": [np.array([1, 5, 20])], "b": [np.array([2, 30, 40])]}}
        >>> report = Report.from_ranks(ranks, metrics=["HR@10", "NDCG@10"])
        >>> print(report.to_markdown().splitlines()[0])
        | Model | HR@10 | NDCG@10 |
    """

    def __init__(
        self,
        *,
        datasets: Sequence[str],
        models: Sequence[str],
        metrics: Sequence[str],
        cells: Mapping[tuple[str, str, str], CellResult],
        n_users: Mapping[str, int],
        test: str,
        correction: str,
        alpha: float,
        decimals: int = 4,
        reference: str | None = None,
        improvements: Sequence[Improvement] = (),
        improvement_of: str | None = None,
        bootstrap: bool = False,
        bootstrap_seed: int = 0,
        bootstrap_resamples: int = BOOTSTRAP_RESAMPLES,
        card: Mapping[str, str] | None = None,
        provenance: str | None = None,
        extra_columns: ExtraColumns | None = None,
        transpose: bool = False,
        latex_fit: str = "resize",
        notes: Sequence[str] = (),
    ) -> None:
        self.datasets: tuple[str, ...] = tuple(datasets)
        self.models: tuple[str, ...] = tuple(models)
        self.metrics: tuple[str, ...] = tuple(metrics)
        self._cells = dict(cells)
        self.n_users: dict[str, int] = dict(n_users)
        self.test = TESTS.canonical(test)
        self.correction = CORRECTIONS.canonical(correction)
        self.alpha = float(alpha)
        self.decimals = int(decimals)
        self.requested_reference = reference
        self.improvement_of = improvement_of
        self._improvements = {(i.dataset, i.metric): i for i in improvements}
        self.bootstrap = bool(bootstrap)
        self.bootstrap_seed = int(bootstrap_seed)
        self.bootstrap_resamples = int(bootstrap_resamples)
        self.provenance = provenance
        self.extra_columns: dict[str, dict[str, dict[str, float]]] = {
            d: {m: {c: _as_float(v) for c, v in cols.items()} for m, cols in per.items()}
            for d, per in (extra_columns or {}).items()
        }
        self.transpose = bool(transpose)
        self.latex_fit = _check_latex_fit(latex_fit)
        self.card: dict[str, str] = {**(card or {}), **self._own_card()}
        #: sentences appended to the footnote (e.g. how the configs were tuned)
        self.notes: tuple[str, ...] = tuple(notes)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_ranks(
        cls,
        results: Ranks,
        *,
        metrics: Sequence[str],
        reference: str | None = None,
        test: str = "ttest",
        correction: str = "holm",
        alpha: float = 0.05,
        card: Mapping[str, str] | None = None,
        decimals: int = 4,
        improvement_of: str | None = None,
        bootstrap: bool = False,
        bootstrap_seed: int = 0,
        bootstrap_resamples: int = BOOTSTRAP_RESAMPLES,
        provenance: str | None = None,
        extra_columns: ExtraColumns | None = None,
        transpose: bool = False,
        latex_fit: str = "resize",
        owners: Mapping[str, np.ndarray] | None = None,
        notes: Sequence[str] = (),
    ) -> Report:
        """Compute a report from per-user test ranks.

        Args:
            results: per dataset, per model, one 1-d int rank array per seed (a 2-d array
                ``(seeds, users)`` or a single 1-d array are accepted too). Within a dataset
                every array covers the same users in the same order. Dataset and model order
                is kept; a model may be missing on some datasets (shown as "–").
            metrics: metric labels, e.g. ``["HR@10", "NDCG@10"]`` (parsed with
                :func:`seqrec_bench.evaluation.parse_metric`, so ``"ndcg@10"`` works).
            reference: the model every other one is tested against, on every dataset; by
                default the best model of each column (first in order on exact ties).
            test: a name in :data:`seqrec_bench.stats.TESTS`.
            correction: a name in :data:`seqrec_bench.stats.CORRECTIONS`, applied across the
                comparisons of one column (one dataset and metric).
            alpha: significance level for the markers.
            card: protocol-card lines (``{"split": "leave-one-out", ...}``) shown under the
                table. The report adds ``test``, ``correction``, ``alpha`` (and ``bootstrap``)
                itself, so the card may not contain those keys.
            decimals: decimal places of metric values; best/second are judged on the values
                rounded to this many places.
            improvement_of: add a row with the relative improvement (%) of this model over the
                best other model of each column.
            bootstrap: show the bootstrap CIs in the tables (rich, Markdown, LaTeX) and add
                the ``bootstrap`` card line. The CIs themselves (95% percentile bootstrap of
                the paired mean difference of every model to its reference, users resampled
                jointly for every model and metric of a dataset) are always computed into
                :meth:`summary`, :meth:`to_json` and :meth:`to_csv`.
            bootstrap_seed: seed of those resamples.
            bootstrap_resamples: number of resamples (PROTOCOL §5: 10,000); 0 computes no CI
                (the ``ci_low``/``ci_high`` fields stay empty), which ``bootstrap=True`` refuses.
            provenance: a one-line note of what produced the numbers (version, commit, device).
            extra_columns: per dataset, per model, named values (``{"train s": 12.3}``)
                shown after the metric columns, without significance or highlighting.
            transpose: default orientation of the renderers (models as columns).
            latex_fit: how :meth:`to_latex` keeps a table inside the text block by default:
                ``"resize"`` (shrink a too wide table to the line width, ``table*`` for a
                wide one; needs ``graphicx``) or ``"none"`` (natural width, plain ``table``).
            owners: per dataset, the user of every rank where a user owns several targets
                (the global temporal split, ``target="all"``): a metric is averaged over each
                user's targets first, so every user weighs the same in the means and tests.

        Returns:
            The computed report.

        Raises:
            ValueError: for inconsistent arrays, unknown names, a reference or
                ``improvement_of`` model that is missing, or card keys the report owns.
        """
        test_fn = TESTS[test]
        correct = CORRECTIONS[correction]
        if not 0.0 < alpha < 1.0:
            raise ConfigError(f"alpha must lie in (0, 1), got {alpha}")
        if decimals < 0:
            raise ConfigError(f"decimals must be >= 0, got {decimals}")
        _check_latex_fit(latex_fit)
        if isinstance(bootstrap_resamples, bool) or bootstrap_resamples < 0:
            raise ConfigError(f"bootstrap_resamples must be >= 0, got {bootstrap_resamples}")
        if bootstrap and not bootstrap_resamples:
            raise ConfigError("bootstrap=True (show the CIs) needs bootstrap_resamples >= 1")
        parsed: list[Metric] = [parse_metric(m) for m in metrics]
        labels = [m.label for m in parsed]
        if not labels:
            raise ConfigError("no metrics requested")
        if len(set(labels)) != len(labels):
            raise ConfigError(f"duplicate metrics in {labels}")
        if not results:
            raise ValueError("no results: expected {dataset: {model: [ranks per seed]}}")

        datasets = list(results)
        models: list[str] = []
        n_users: dict[str, int] = {}
        seeds: dict[tuple[str, str], list[np.ndarray]] = {}
        for d, per_model in results.items():
            if not per_model:
                raise ValueError(f"dataset {d!r} has no models")
            for model, value in per_model.items():
                arrays = _seed_list(value, f"{d}/{model}")
                seeds[d, model] = arrays
                if model not in models:
                    models.append(model)
                for r in arrays:
                    n = n_users.setdefault(d, r.size)
                    if r.size != n:
                        raise ValueError(
                            f"{d}/{model}: {r.size} ranks where other arrays of {d!r} have {n} "
                            "(every model and seed must cover the same users)"
                        )
            if n_users[d] == 0:
                raise ValueError(f"dataset {d!r} has no users")
            owner = (owners or {}).get(d)
            if owner is not None:
                if len(owner) != n_users[d]:
                    raise ValueError(f"{d}: {len(owner)} owners for {n_users[d]} ranks")
                n_users[d] = int(len(np.unique(owner)))
        # The reference is needed in every column; the improvement row shows "–" where its
        # model is missing, but a model missing everywhere is surely a typo.
        if reference is not None and any(reference not in results[d] for d in datasets):
            missing = [d for d in datasets if reference not in results[d]]
            raise ConfigError(
                f"reference model {reference!r} has no results on "
                f"{', '.join(map(repr, missing))}; models: {', '.join(models)}"
            )
        if improvement_of is not None and improvement_of not in models:
            raise ConfigError(
                f"improvement_of model {improvement_of!r} has no results; "
                f"models: {', '.join(models)}"
            )

        if extra_columns:
            _check_extra_columns(extra_columns, seeds)
        clash = [k for k in (card or {}) if k in _OWN_CARD_KEYS]
        if clash:
            raise ValueError(f"card keys {clash} are written by the report itself")

        cells: dict[tuple[str, str, str], CellResult] = {}
        improvements: list[Improvement] = []
        for d in datasets:
            present = {m: seeds[d, m] for m in models if (d, m) in seeds}
            # (cell key, per-user difference to the reference) of every comparison of d
            pending: list[tuple[tuple[str, str, str], np.ndarray]] = []
            for metric in parsed:
                column, means, diffs = _column(
                    d,
                    metric,
                    present,
                    owner=(owners or {}).get(d),
                    reference=reference,
                    test_fn=test_fn,
                    correct=correct,
                    alpha=alpha,
                    decimals=decimals,
                )
                cells.update({(d, c.model, c.metric): c for c in column})
                pending += [((d, m, metric.label), diff) for m, diff in diffs.items()]
                if improvement_of is not None:
                    improvements.append(
                        _improvement(
                            d, metric.label, improvement_of, means, metric.higher_is_better
                        )
                    )
            if pending and bootstrap_resamples:
                # One set of resamples per dataset for all its comparisons (vectorised).
                cis = bootstrap_cis(
                    np.stack([diff for _, diff in pending]),
                    confidence=BOOTSTRAP_CONFIDENCE,
                    n_resamples=bootstrap_resamples,
                    seed=bootstrap_seed,
                )
                for (key, _), ci in zip(pending, cis, strict=True):
                    cells[key] = replace(cells[key], ci_low=ci.low, ci_high=ci.high)

        return cls(
            datasets=datasets,
            models=models,
            metrics=labels,
            cells=cells,
            n_users=n_users,
            test=test,
            correction=correction,
            alpha=alpha,
            decimals=decimals,
            reference=reference,
            improvements=improvements,
            improvement_of=improvement_of,
            bootstrap=bootstrap,
            bootstrap_seed=bootstrap_seed,
            bootstrap_resamples=bootstrap_resamples,
            card=card,
            provenance=provenance,
            extra_columns=extra_columns,
            transpose=transpose,
            latex_fit=latex_fit,
            notes=notes,
        )

    def _own_card(self) -> dict[str, str]:
        lines = {
            "test": f"{TESTS.title(self.test)} over users, two-sided, each model vs. the reference",
            "correction": f"{CORRECTIONS.title(self.correction)}, across the models of each "
            "dataset and metric column",
            "alpha": f"{self.alpha:g}",
        }
        if self.bootstrap:
            lines["bootstrap"] = (
                f"{BOOTSTRAP_CONFIDENCE:.0%} percentile CI of the paired mean difference, "
                f"{self.bootstrap_resamples:,} resamples, seed {self.bootstrap_seed}"
            )
        return lines

    # ------------------------------------------------------------------ access

    @property
    def multi_dataset(self) -> bool:
        """Whether the report spans more than one dataset."""
        return len(self.datasets) > 1

    def _dataset(self, dataset: str | None) -> str:
        if dataset is None:
            if self.multi_dataset:
                raise ValueError(
                    f"this report has several datasets ({', '.join(self.datasets)}); name one"
                )
            return self.datasets[0]
        if dataset not in self.datasets:
            raise KeyError(f"unknown dataset {dataset!r}; datasets: {', '.join(self.datasets)}")
        return dataset

    def cell(self, model: str, metric: str, dataset: str | None = None) -> CellResult | None:
        """The computed cell of ``model`` and ``metric``; ``None`` if the model has no result
        on that dataset. ``dataset`` may be left out for a single-dataset report."""
        d = self._dataset(dataset)
        label = parse_metric(metric).label
        if label not in self.metrics:
            raise KeyError(f"unknown metric {metric!r}; metrics: {', '.join(self.metrics)}")
        if model not in self.models:
            raise KeyError(f"unknown model {model!r}; models: {', '.join(self.models)}")
        return self._cells.get((d, model, label))

    def cells(self) -> list[CellResult]:
        """Every cell, dataset-major, then model, then metric (the order of :meth:`to_csv`)."""
        return [
            self._cells[d, m, k]
            for d in self.datasets
            for m in self.models
            for k in self.metrics
            if (d, m, k) in self._cells
        ]

    def reference(self, metric: str, dataset: str | None = None) -> str:
        """The reference model of one column."""
        d = self._dataset(dataset)
        label = parse_metric(metric).label
        return next(c.reference for c in self.cells() if c.dataset == d and c.metric == label)

    def improvement(self, metric: str, dataset: str | None = None) -> Improvement | None:
        """The improvement of ``improvement_of`` in one column, if it was requested."""
        return self._improvements.get((self._dataset(dataset), parse_metric(metric).label))

    def extra_names(self, dataset: str) -> list[str]:
        """Names of the extra columns of one dataset, in first-seen order."""
        names: list[str] = []
        for cols in self.extra_columns.get(dataset, {}).values():
            names.extend(c for c in cols if c not in names)
        return names

    # ------------------------------------------------------------------ exports

    def summary(self) -> dict[str, Any]:
        """A JSON-able digest: means per model and the comparisons per metric.

        Shape for one dataset (several datasets nest it under ``{"datasets": {name: ...}}``)::

            {"models": {model: {"HR@10": mean, ..., "std": {"HR@10": std or None, ...}}},
             "comparisons": {metric: {"reference": model, "test": "ttest",
                                      "correction": "holm", "alpha": 0.05,
                                      "results": {model: {"pvalue": raw, "pvalue_adj": adj,
                                                          "significant": bool,
                                                          "rel_diff_pct": pct,
                                                          "ci_low": low, "ci_high": high}}}}}

        ``results`` lists the models other than the reference; each result also has the
        bootstrap CI of the paired mean difference, ``ci_low``/``ci_high`` (whether or not
        ``bootstrap=True`` shows it in the tables); with ``improvement_of`` the digest has an
        ``"improvement"`` entry ``{"model": m, "pct": {metric: pct}, "over": {metric: model}}``.
        Non-finite numbers become ``None``.
        """
        per = {d: self._summary_one(d) for d in self.datasets}
        if self.multi_dataset:
            return {"datasets": per}
        return per[self.datasets[0]]

    def _summary_one(self, d: str) -> dict[str, Any]:
        models: dict[str, Any] = {}
        for m in self.models:
            cells = [self._cells[d, m, k] for k in self.metrics if (d, m, k) in self._cells]
            if not cells:
                continue
            entry: dict[str, Any] = {c.metric: _finite_or_none(c.mean) for c in cells}
            entry["std"] = {c.metric: _finite_or_none(c.std) for c in cells}
            models[m] = entry
        comparisons: dict[str, Any] = {}
        for k in self.metrics:
            column = [self._cells[d, m, k] for m in self.models if (d, m, k) in self._cells]
            results: dict[str, Any] = {}
            for c in column:
                if c.is_reference:
                    continue
                res: dict[str, Any] = {
                    "pvalue": _finite_or_none(c.pvalue),
                    "pvalue_adj": _finite_or_none(c.pvalue_adj),
                    "significant": c.significant,
                    "rel_diff_pct": _finite_or_none(c.rel_diff_pct),
                    "ci_low": _finite_or_none(c.ci_low),
                    "ci_high": _finite_or_none(c.ci_high),
                }
                results[c.model] = res
            comparisons[k] = {
                "reference": column[0].reference,
                "test": self.test,
                "correction": self.correction,
                "alpha": self.alpha,
                "results": results,
            }
        out: dict[str, Any] = {"models": models, "comparisons": comparisons}
        if self.improvement_of is not None:
            imps = [self._improvements[d, k] for k in self.metrics]
            out["improvement"] = {
                "model": self.improvement_of,
                "pct": {i.metric: _finite_or_none(i.pct) for i in imps},
                "over": {i.metric: i.over for i in imps},
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything the report holds, as plain JSON-able data (non-finite numbers -> None).

        Keys: ``datasets``, ``models``, ``metrics``, ``n_users``, ``settings`` (test,
        correction, alpha, decimals, reference, improvement_of, and ``bootstrap``:
        ``{"confidence", "n_resamples", "seed", "shown"}``, or ``None`` with
        ``bootstrap_resamples=0``), ``cells`` (one
        record per dataset/model/metric, the fields of :class:`CellResult`), ``improvements``,
        ``extra_columns``, ``card``, ``provenance`` and ``footnote``.
        """
        from seqrec_bench.report.render import footnote_text

        def clean(record: dict[str, Any]) -> dict[str, Any]:
            return {k: _finite_or_none(v) if isinstance(v, float) else v for k, v in record.items()}

        return {
            "datasets": list(self.datasets),
            "models": list(self.models),
            "metrics": list(self.metrics),
            "n_users": dict(self.n_users),
            "settings": {
                "test": self.test,
                "correction": self.correction,
                "alpha": self.alpha,
                "decimals": self.decimals,
                "reference": self.requested_reference,
                "improvement_of": self.improvement_of,
                "bootstrap": (
                    {
                        "confidence": BOOTSTRAP_CONFIDENCE,
                        "n_resamples": self.bootstrap_resamples,
                        "seed": self.bootstrap_seed,
                        "shown": self.bootstrap,
                    }
                    if self.bootstrap_resamples
                    else None
                ),
            },
            "cells": [clean(asdict(c)) for c in self.cells()],
            "improvements": [clean(asdict(i)) for i in self._improvements.values()],
            "extra_columns": {
                d: {m: {c: _finite_or_none(v) for c, v in cols.items()} for m, cols in per.items()}
                for d, per in self.extra_columns.items()
            },
            "card": dict(self.card),
            "provenance": self.provenance,
            "footnote": footnote_text(self),
        }

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        """:meth:`to_dict` as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_csv(self) -> str:
        """A tidy CSV, one row per dataset, model and metric.

        Columns: ``dataset, model, metric, mean, std, n_seeds, pvalue, pvalue_adj,
        significant, reference, rel_diff_pct, ci_low, ci_high`` (``reference`` names the
        column's reference model; ``ci_low``/``ci_high`` the bootstrap CI of the paired mean
        difference to it, filled whether or not ``bootstrap=True``; empty fields are not
        applicable). Extra columns follow as
        rows whose ``metric`` is the column name and whose only value is ``mean``.
        """
        from seqrec_bench.report.render import render_csv

        return render_csv(self)

    def to_markdown(self, *, transpose: bool | None = None) -> str:
        """A GitHub-flavoured Markdown table, then the footnote and the protocol card.

        Best values are **bold**, second best <u>underlined</u>; ``†`` marks a significant
        difference to the reference, ``▲`` marks the reference.

        Args:
            transpose: models as columns and metrics as rows (default: the report's setting).
        """
        from seqrec_bench.report.render import render_markdown

        return render_markdown(self, self._orient(transpose))

    def to_latex(
        self,
        *,
        transpose: bool | None = None,
        caption: str | None = None,
        label: str | None = None,
        fit: str | None = None,
    ) -> str:
        r"""A booktabs ``table`` (or ``table*``) environment that fits the text block.

        Needs ``\usepackage{booktabs,amssymb}`` and, with ``fit="resize"``, ``graphicx``; the
        first line of the output is a comment saying so.

        Best values are ``\textbf``, second best ``\underline``; ``$^{\dagger}$`` marks a
        significant difference to the reference, ``$^{\blacktriangle}$`` the reference.
        Several datasets become ``\multicolumn`` groups with ``\cmidrule``. The caption
        names the test, correction, alpha and users; the protocol card follows as ``%``
        comments. Names are escaped.

        Args:
            transpose: models as columns and metrics as rows (default: the report's setting).
            caption: LaTeX text put before the generated caption (not escaped).
            label: ``\label`` of the table.
            fit: ``"resize"`` or ``"none"`` (default: the report's ``latex_fit``). With
                ``"resize"`` the ``tabular`` is wrapped in a ``\resizebox`` that shrinks it to
                ``\linewidth`` when it is wider (never enlarges it), and a table with dataset
                column groups or more than 6 value columns is a ``table*``; ``graphicx`` is
                then needed too. ``"none"``: a plain ``table`` at its natural width.
        """
        from seqrec_bench.report.render import render_latex

        return render_latex(
            self,
            self._orient(transpose),
            caption=caption,
            label=label,
            fit=self.latex_fit if fit is None else _check_latex_fit(fit),
        )

    def to_rich(self, *, transpose: bool | None = None) -> Group:
        """The rich table, then the protocol card and the footnote, as one renderable.

        The table is laid out for the console it is printed on: a cell never breaks over two
        lines and a name is never cut; a table wider than the console is printed as one table
        per dataset, then as consecutive parts of its columns
        (:class:`~seqrec_bench.report.render.FittedTable`).
        """
        from seqrec_bench.report.render import render_rich

        return render_rich(self, self._orient(transpose))

    def print(self, console: Console | None = None, *, transpose: bool | None = None) -> None:
        """Print :meth:`to_rich` to ``console`` (a new stdout console by default)."""
        from rich.console import Console

        (console or Console()).print(self.to_rich(transpose=transpose))

    def __rich__(self) -> Group:
        return self.to_rich()

    def _orient(self, transpose: bool | None) -> bool:
        return self.transpose if transpose is None else bool(transpose)

    def __repr__(self) -> str:
        return (
            f"Report(datasets={list(self.datasets)}, models={list(self.models)}, "
            f"metrics={list(self.metrics)}, test={self.test!r}, correction={self.correction!r})"
        )


def _column(
    dataset: str,
    metric: Metric,
    seeds: Mapping[str, list[np.ndarray]],
    *,
    owner: np.ndarray | None = None,
    reference: str | None,
    test_fn: Callable[..., TestResult],
    correct: Callable[[np.ndarray], np.ndarray],
    alpha: float,
    decimals: int,
) -> tuple[list[CellResult], dict[str, float], dict[str, np.ndarray]]:
    """The cells of one (dataset, metric) column, the models' means and the per-user
    differences of every other model to the reference (for the bootstrap; PROTOCOL §5)."""
    higher = metric.higher_is_better
    per_user: dict[str, np.ndarray] = {}
    means: dict[str, float] = {}
    stds: dict[str, float | None] = {}
    for m, arrays in seeds.items():
        values = np.stack([per_user_values(metric(r), owner) for r in arrays])  # (seeds, users)
        seed_means = values.mean(axis=1)
        per_user[m] = values.mean(axis=0)
        means[m] = float(seed_means.mean())
        stds[m] = float(seed_means.std(ddof=1)) if len(seed_means) > 1 else None
    ref = reference if reference is not None else _best(means, higher)
    others = [m for m in seeds if m != ref]
    raw = np.array([test_fn(per_user[m], per_user[ref]).pvalue for m in others])
    adjusted = dict(zip(others, correct(raw), strict=True))
    raw_p = dict(zip(others, raw, strict=True))
    places = _places(means, decimals, higher)
    cells = []
    for m in seeds:
        fields: dict[str, Any] = {"rel_diff_pct": 0.0}
        if m != ref:
            fields.update(
                pvalue=float(raw_p[m]),
                pvalue_adj=float(adjusted[m]),
                significant=bool(adjusted[m] < alpha),
                # m / ref - 1 rather than (m - ref) / ref: exactly -100.0 for a zero mean,
                # exactly -25.0 for 0.75 vs 1.0
                rel_diff_pct=100.0 * (means[m] / means[ref] - 1.0) if means[ref] else None,
            )
        cells.append(
            CellResult(
                dataset=dataset,
                model=m,
                metric=metric.label,
                mean=means[m],
                std=stds[m],
                n_seeds=len(seeds[m]),
                reference=ref,
                place=places.get(m),
                **fields,
            )
        )
    return cells, means, {m: per_user[m] - per_user[ref] for m in others}


def _improvement(
    d: str, label: str, model: str, means: dict[str, float], higher: bool
) -> Improvement:
    if model not in means:
        return Improvement(d, label, model, None, None)
    others = {m: v for m, v in means.items() if m != model}
    if not others:
        raise ConfigError(f"improvement_of={model!r} needs another model on dataset {d!r}")
    over = _best(others, higher)
    base = others[over]
    if not base:
        return Improvement(d, label, model, over, None)
    ratio = means[model] / base
    return Improvement(d, label, model, over, 100.0 * (ratio - 1.0 if higher else 1.0 - ratio))


def _check_latex_fit(fit: str) -> str:
    from seqrec_bench.report.render import LATEX_FITS

    if fit not in LATEX_FITS:
        raise ConfigError(f"unknown latex_fit {fit!r}; valid: {', '.join(LATEX_FITS)}")
    return fit


def _check_extra_columns(
    extra: ExtraColumns, seeds: Mapping[tuple[str, str], list[np.ndarray]]
) -> None:
    datasets = {d for d, _ in seeds}
    for d, per_model in extra.items():
        if d not in datasets:
            raise ValueError(f"extra_columns: unknown dataset {d!r}")
        for m, cols in per_model.items():
            if (d, m) not in seeds:
                raise ValueError(f"extra_columns: model {m!r} has no results on {d!r}")
            for c, v in cols.items():
                try:
                    _as_float(v)
                except (TypeError, ValueError):
                    raise ValueError(f"extra_columns: {d}/{m}/{c} is not a number: {v!r}") from None
