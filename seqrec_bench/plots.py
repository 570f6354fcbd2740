"""``seqbench plot``: training curves and metric-vs-k figures from a stored run.

matplotlib is an optional extra (``pip install seqrec-bench[plots]``); without it the command
says so in one line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqrec_bench.errors import SeqbenchError
from seqrec_bench.store import ResultsDir, ResultsError, StoredCell

__all__ = ["plot_run", "plot_tuning", "MissingPlotDependency"]


class MissingPlotDependency(SeqbenchError, ImportError):
    """matplotlib is not installed."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never needs a display
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingPlotDependency(
            "plotting needs matplotlib: pip install 'seqrec-bench[plots]' (or pip install matplotlib)"
        ) from None
    return plt


def _trains_in_epochs(record: dict) -> bool:
    """Whether a cell's history is training epochs (vs. a validation search such as markov's).

    Trainer-based models have ``max_epochs`` in their config and a ``loss`` per epoch; markov's
    history is its back-off weight grid and has neither.
    """
    config = record.get("config") or {}
    return "max_epochs" in config or any("loss" in h for h in record.get("history") or [])


def plot_run(
    root: str | Path,
    out_dir: str | Path | None = None,
    max_k: int = 50,
    models: list[str] | None = None,
    datasets: list[str] | None = None,
) -> list[Path]:
    """Write ``training_curves.{png,pdf}`` and ``metrics_vs_k.{png,pdf}``; return their paths.

    Training curves: validation NDCG@10 per epoch of every iterative model (one line per seed);
    a model that records a validation search instead of epochs (no ``loss`` in its history, e.g.
    markov's back-off grid) is a dashed level line at its selected value.
    ``models`` / ``datasets`` keep only those (e.g. the built-ins of a folder that also holds a
    plugin's cells). Metrics vs k: HR@k and NDCG@k for k = 1..max_k from the stored ranks, mean over seeds with a
    band spanning the seeds' min..max.
    """
    from seqrec_bench.evaluation import per_user_values
    from seqrec_bench.evaluation.metrics import hit_rate, ndcg

    plt = _pyplot()
    rd = ResultsDir(root)
    if rd.read_study():
        # a `seqbench tune` folder: its trials are validation-only, the figure is the search
        return plot_tuning(root, out_dir, models=models)
    rd.check_exists()
    out = Path(out_dir) if out_dir else Path(root) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    from seqrec_bench.report.runs import check_combinable, folder_cells, group_cells

    try:
        stored, _ = folder_cells(rd, models=models, datasets=datasets)
    except ResultsError:
        stored = []
    groups = group_cells(stored)
    check_combinable(groups)
    cells: dict[str, dict[str, list[StoredCell]]] = groups
    if not cells:
        raise ResultsError(
            f"{root}: no completed cells"
            + (" for the requested models/datasets" if models or datasets else "")
            + "; run `seqbench run` first, or check --models/--datasets against `seqbench table`"
        )
    shown_datasets = sorted(cells)
    # one colour per model in every panel and both figures (not per panel position)
    shown_models = sorted({model for per_model in cells.values() for model in per_model})
    colour = {model: f"C{i % 10}" for i, model in enumerate(shown_models)}
    written: list[Path] = []

    # -- training curves --------------------------------------------------------------------
    fig, axes = plt.subplots(
        1, len(shown_datasets), figsize=(5.5 * len(shown_datasets), 4), squeeze=False
    )
    for ax, ds in zip(axes[0], shown_datasets, strict=True):
        drawn = False
        for model, group in sorted(cells[ds].items()):
            color = colour[model]
            for j, rec in enumerate(c.record for c in sorted(group, key=lambda c: c.seed)):
                search = [h for h in rec.get("history", []) if "NDCG@10" in h]
                hist = [h for h in search if "epoch" in h]
                if search and not _trains_in_epochs(rec):
                    # not training epochs but a validation search (markov's back-off grid): its
                    # points have no x axis in common with epochs, so draw the selected value as
                    # a level line the training curves can be read against
                    chosen = max(h["NDCG@10"] for h in search)
                    ax.axhline(
                        chosen,
                        color=color,
                        linestyle="--",
                        linewidth=1,
                        alpha=0.8,
                        label=f"{model} (no epochs)" if j == 0 else None,
                    )
                    drawn = True
                    continue
                if len(hist) < 2:
                    continue
                ax.plot(
                    [h["epoch"] for h in hist],
                    [h["NDCG@10"] for h in hist],
                    color=color,
                    alpha=0.8,
                    label=model if j == 0 else None,
                )
                if rec.get("best_epoch") is not None:
                    best = [h for h in hist if h["epoch"] == rec["best_epoch"]]
                    if best:
                        ax.scatter(
                            [best[0]["epoch"]], [best[0]["NDCG@10"]], color=color, marker="o", s=18
                        )
                drawn = True
        ax.set_title(f"{ds}: validation NDCG@10")
        ax.set_xlabel("epoch")
        ax.set_ylabel("NDCG@10 (validation)")
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=8)
        else:
            ax.text(
                0.5, 0.5, "no iterative models", ha="center", va="center", transform=ax.transAxes
            )
    fig.tight_layout()
    for ext in ("png", "pdf"):
        path = out / f"training_curves.{ext}"
        fig.savefig(path, dpi=150)
        written.append(path)
    plt.close(fig)

    # -- metrics vs k -------------------------------------------------------------------------
    ks = np.arange(1, max_k + 1)
    fig, axes = plt.subplots(
        2, len(shown_datasets), figsize=(5.5 * len(shown_datasets), 7), squeeze=False
    )
    for col, ds in enumerate(shown_datasets):
        for model, group in sorted(cells[ds].items()):
            for row, (name, fn) in enumerate((("HR", hit_rate), ("NDCG", ndcg))):
                curves = np.array(
                    [
                        [per_user_values(fn(c.ranks, int(k)), c.owner).mean() for k in ks]
                        for c in group
                    ]
                )
                ax = axes[row][col]
                ax.plot(ks, curves.mean(axis=0), color=colour[model], label=model)
                if len(curves) > 1:
                    ax.fill_between(
                        ks, curves.min(axis=0), curves.max(axis=0), color=colour[model], alpha=0.2
                    )
                ax.set_title(f"{ds}: {name}@k (test)")
                ax.set_xlabel("k")
                ax.set_ylabel(f"{name}@k")
                ax.grid(alpha=0.3)
        axes[0][col].legend(fontsize=8)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        path = out / f"metrics_vs_k.{ext}"
        fig.savefig(path, dpi=150)
        written.append(path)
    plt.close(fig)
    return written


def plot_tuning(
    root: str | Path, out_dir: str | Path | None = None, models: list[str] | None = None
) -> list[Path]:
    """Write ``tuning_curves.{png,pdf}`` for a ``seqbench tune`` folder; return their paths.

    One line per model: the best validation score so far against the trial number (pruned
    trials are small crosses at their best value before pruning; completed ones dots), so a
    curve still rising at its last trial says the budget was too small for that model.
    """
    from seqrec_bench.tune import read_tuning

    plt = _pyplot()
    record, trials = read_tuning(root)
    metric = record.get("settings", {}).get("metric", "NDCG@10")
    out = Path(out_dir) if out_dir else Path(root) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    entries = {e["label"]: e for e in record.get("models", [])}
    labels = [label for label in entries if not models or label in models]
    if not any(trials.get(label) for label in labels):
        raise ResultsError(f"{root}: no stored trials" + (" for --models" if models else ""))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, label in enumerate(labels):
        mine = trials.get(label, {})
        if not mine:
            continue
        color = f"C{i % 10}"
        if not entries[label].get("space"):
            # nothing to tune (pop): one trial at the defaults, a level to read the others by
            value = mine[min(mine)].record.get("value")
            if value is not None:
                ax.axhline(
                    value, color=color, linestyle="--", linewidth=1, label=f"{label} (defaults)"
                )
            continue
        numbers = sorted(mine)
        best, xs, ys = float("-inf"), [], []
        for n in numbers:
            rec = mine[n].record
            if rec.get("status") == "complete" and rec.get("value") is not None:
                best = max(best, float(rec["value"]))
                ax.scatter([n], [rec["value"]], color=color, s=10, alpha=0.5)
            else:
                curve = [h[metric] for h in rec.get("history") or [] if metric in h]
                if curve:
                    ax.scatter([n], [max(curve)], color=color, marker="x", s=14, alpha=0.5)
            if best > float("-inf"):
                xs.append(n)
                ys.append(best)
        ax.step(xs, ys, where="post", color=color, label=f"{label} ({len(mine)} trials)")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(f"best validation {metric} so far")
    import textwrap

    title = f"{record.get('dataset_name', '')}: {record.get('settings', {}).get('budget', '')}"
    ax.set_title(textwrap.fill(title, 60), fontsize=10)  # a budget sentence can be long
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    written = []
    for ext in ("png", "pdf"):
        path = out / f"tuning_curves.{ext}"
        fig.savefig(path, dpi=150)
        written.append(path)
    plt.close(fig)
    return written
