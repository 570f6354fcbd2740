"""Shared pieces of the ``reproduce_*.py`` scripts: loading, the leave-one-out pipeline, tables.

Data come from ``seqrec_bench.data.load_dataset`` (PROTOCOL §1: stable sort by (user,
timestamp) keeping file order on ties, dense ids, users with < 3 items dropped).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from seqrec_bench.data import LeaveOneOutSplit, Sequences
from seqrec_bench.evaluation.evaluator import Evaluator
from seqrec_bench.registry import get_model_class

SHARED = Path(os.environ.get("SEQBENCH_SHARED_DATA", "/work/shared/data"))
METRICS = ["HR@10", "NDCG@10"]


def load(name: str, data: str | None = None) -> tuple[Sequences, dict[str, Any], str]:
    """Sequences and statistics of a data set through ``seqrec_bench.data.load_dataset``.

    ``"beauty"`` and ``"ml-100k"`` read the shared files as plain local files (no k-core
    filtering; users with < 3 items dropped, PROTOCOL §1); ``"ml-1m"`` uses the named preset,
    with ``data`` the folder that holds the user's copy (``ml-1m.zip`` or ``ml-1m/``).
    """
    from seqrec_bench.data import load_dataset

    if name == "beauty":
        ds = load_dataset(data or SHARED / "amazon-beauty" / "Beauty.txt", progress=False)
    elif name == "ml-100k":
        ds = load_dataset(data or SHARED / "ml-100k" / "u.data", progress=False)
    else:
        ds = load_dataset(name, data_dir=data, progress=False)
    return ds.sequences, dict(ds.stats), f"load_dataset({ds.name!r}, options={ds.options})"


def run_model(
    name: str,
    seqs: Sequences,
    stats: dict[str, Any],
    *,
    seed: int = 0,
    device: str = "cpu",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit ``name`` with its dataset defaults (plus overrides) and evaluate on test."""
    from dataclasses import asdict, replace

    from seqrec_bench.training import resolve_device

    split = LeaveOneOutSplit.from_sequences(seqs)
    cls = get_model_class(name)
    config = cls.default_config(stats)
    if overrides:
        config = replace(config, **overrides)
    print(f"{name} config: {asdict(config) if is_dataclass(config) else {}}", flush=True)
    model = cls(config)
    validator = Evaluator(split.valid_inputs, split.valid_targets, metrics=METRICS)
    t0 = time.perf_counter()
    model.fit(split.train, seed=seed, device=str(resolve_device(device)), validator=validator)
    fit_seconds = time.perf_counter() - t0
    valid = validator.evaluate(model).metrics
    test = Evaluator(split.test_inputs, split.test_targets(), metrics=METRICS).evaluate(model)
    return {
        "model": name,
        "config": asdict(config) if hasattr(config, "__dataclass_fields__") else {},
        "best_epoch": model.best_epoch,
        "epochs": len(model.history),
        "fit_seconds": fit_seconds,
        "valid": valid,
        "test": test.metrics,
        "history": model.history,
        "overridden": dict(overrides or {}),
    }


def parser(description: str, default_models: str) -> argparse.ArgumentParser:
    """The command line every reproduce script shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--models", default=default_models, help=f"comma list (default {default_models})"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default=None, help="data file or folder (default: the shared copy)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: the cores this process may use). On a machine shared "
        "with other jobs, 1 is often much faster: OpenMP threads spin when oversubscribed.",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[MODEL.]KEY=VALUE",
        help="config override, e.g. --set transformer.dropout=0.5 (no prefix: every model "
        "that has the key)",
    )
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    return p


def setup_threads(threads: int | None) -> int:
    """Set torch's CPU thread count (default: the cores this process may use)."""
    import torch

    n = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def overrides_for(model: str, pairs: list[str]) -> dict[str, Any]:
    """Typed overrides for ``model`` from ``--set`` pairs (see :func:`parser`)."""
    from seqrec_bench.models.base import parse_overrides

    cls = get_model_class(model)
    names = {f.name for f in fields(cls.config_cls)} if is_dataclass(cls.config_cls) else set()
    raw: dict[str, str] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        prefix, dot, bare = key.partition(".")
        if dot and prefix == model:
            raw[bare] = value
        elif not dot and key in names:
            raw[key] = value
    if not raw:
        return {}
    parsed = parse_overrides(cls.config_cls(), raw)
    return {k: getattr(parsed, k) for k in raw}


def main(dataset: str, description: str, default_models: str) -> list[dict[str, Any]]:
    """Parse the command line, run every model on ``dataset`` and print the table."""
    args = parser(description, default_models).parse_args()
    # per-epoch lines from the trainer, for runs logged to a file
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    threads = setup_threads(args.threads)
    t0 = time.perf_counter()
    seqs, stats, loader = load(dataset, args.data)
    print(
        f"{dataset}: {stats.get('users')} users, {stats.get('items')} items, "
        f"{stats.get('interactions')} interactions, median length "
        f"{stats.get('length', {}).get('median')}; loaded in {time.perf_counter() - t0:.1f}s; "
        f"torch threads {threads}",
        flush=True,
    )
    rows = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        row = run_model(
            name,
            seqs,
            stats,
            seed=args.seed,
            device=args.device,
            overrides=overrides_for(name, args.set),
        )
        changed = {k: v for k, v in row["config"].items() if k in row.get("overridden", {})}
        print(
            f"{name}: test NDCG@10 {row['test']['NDCG@10']:.4f} HR@10 {row['test']['HR@10']:.4f} "
            f"(valid NDCG@10 {row['valid'].get('NDCG@10', float('nan')):.4f}, best epoch "
            f"{row['best_epoch']}, {row['fit_seconds']:.0f}s){' ' + str(changed) if changed else ''}",
            flush=True,
        )
        rows.append(row)
    report(rows, dataset, loader, args.json)
    return rows


def report(rows: list[dict[str, Any]], dataset: str, loader: str, json_path: str | None) -> None:
    """Print the results table (and write JSON when asked)."""
    print(f"\n{dataset} via {loader}; full ranking, seen items masked")
    print(
        f"{'model':<12} {'val NDCG@10':>11} {'NDCG@10':>8} {'HR@10':>8} {'best ep':>7} {'fit s':>8}"
    )
    for r in rows:
        print(
            f"{r['model']:<12} {r['valid'].get('NDCG@10', float('nan')):>11.4f} "
            f"{r['test']['NDCG@10']:>8.4f} {r['test']['HR@10']:>8.4f} "
            f"{str(r['best_epoch']):>7} {r['fit_seconds']:>8.1f}"
        )
    for r in rows:
        if r["config"]:
            print(f"  {r['model']} config: {r['config']}")
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=1, default=float))
    sys.stdout.flush()
