"""``seqbench verify``: compare a run with published reference figures.

The reference bands ship with the package (``references.toml``): model, data set, protocol,
metric, published value, source and tolerance. Every stored result that matches a band is
reported with our value, the published one, the difference and pass/fail.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from seqrec_bench.store import ResultsDir

__all__ = ["Reference", "load_references", "verify_run", "VerifyRow"]


@dataclass(frozen=True)
class Reference:
    """One published figure and how to judge ours against it."""

    model: str
    dataset: str
    protocol: str
    metric: str
    value: float
    source: str
    tolerance: float = 0.0
    check: str = "within"
    items: int | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def passes(self, ours: float) -> bool:
        """``within``: |ours - value| <= tolerance; ``at_least``: ours >= value - tolerance."""
        if self.check == "within":
            return abs(ours - self.value) <= self.tolerance + 1e-12
        if self.check == "at_least":
            return ours >= self.value - self.tolerance - 1e-12
        raise ValueError(f"unknown check {self.check!r}")


@dataclass(frozen=True)
class VerifyRow:
    """A matched (run cell group, reference) pair."""

    dataset: str
    model: str
    metric: str
    ours: float
    seeds: int
    reference: Reference

    @property
    def difference(self) -> float:
        return self.ours - self.reference.value

    @property
    def passed(self) -> bool:
        return self.reference.passes(self.ours)


def load_references(path: str | Path | None = None) -> list[Reference]:
    """The shipped references (or those of another TOML file with ``[[reference]]`` rows)."""
    if path is None:
        text = (
            resources.files("seqrec_bench").joinpath("references.toml").read_text(encoding="utf-8")
        )
    else:
        text = Path(path).read_text(encoding="utf-8")
    rows = tomllib.loads(text).get("reference", [])
    return [Reference(**row) for row in rows]


def _dataset_names(label: str, info: dict) -> set[str]:
    names = {label.lower()}
    source = str(info.get("source", ""))
    if source:
        names.add(source.lower())
        names.add(Path(source).stem.lower())
    return names


def verify_run(root: str | Path, references: list[Reference] | None = None) -> list[VerifyRow]:
    """Match every (dataset, model) of a run with the references and compare mean test metrics.

    The cells are those of the folder's last run (what ``seqbench table`` shows); a (dataset,
    model) group must be one experiment (see :func:`seqrec_bench.report.runs.check_combinable`);
    unreadable cells are left out.
    """
    from seqrec_bench.evaluation.metrics import parse_metric
    from seqrec_bench.report.runs import check_combinable, folder_cells, group_cells

    rd = ResultsDir(root)
    refs = references if references is not None else load_references()
    datasets = rd.read_datasets()
    cells, _ = folder_cells(rd)  # the last run's cells, as `seqbench table` shows them
    rows = []
    for ds, per_model in group_cells(cells).items():
        info = datasets.get(ds, {})
        names = _dataset_names(ds, info)
        for label, group in per_model.items():
            check_combinable({ds: {label: group}})
            first = group[0].identity.fields
            for ref in refs:
                if ref.dataset.lower() not in names or ref.model != first.get("model_name", label):
                    continue
                if ref.protocol != first.get("protocol"):
                    continue
                if first.get("split", "leave-one-out") != "leave-one-out":
                    continue  # published figures are leave-one-out figures
                if ref.items is not None and info.get("stats", {}).get("items") != ref.items:
                    continue
                config = first.get("config", {})
                if any(config.get(k) != v for k, v in ref.config.items()):
                    continue
                metric = parse_metric(ref.metric)
                per_seed = [float(c.per_user(metric).mean()) for c in group]
                rows.append(
                    VerifyRow(ds, label, metric.label, float(np.mean(per_seed)), len(per_seed), ref)
                )
    return rows


def render_verify(rows: list[VerifyRow], console) -> None:
    """A rich table of the verification rows."""
    from rich.table import Table

    t = Table(title="reproduction check against published figures")
    for col in (
        "data set",
        "model",
        "metric",
        "ours",
        "published",
        "diff",
        "check",
        "result",
        "source",
    ):
        t.add_column(col, justify="right" if col in ("ours", "published", "diff") else "left")
    for r in rows:
        check = (
            f"±{r.reference.tolerance:g}"
            if r.reference.check == "within"
            else f"≥ -{r.reference.tolerance:g}"
        )
        t.add_row(
            r.dataset,
            r.model,
            r.metric,
            f"{r.ours:.4f}",
            f"{r.reference.value:.4f}",
            f"{r.difference:+.4f}",
            check,
            "[green]pass[/]" if r.passed else "[red]FAIL[/]",
            r.reference.source,
        )
    console.print(t)
