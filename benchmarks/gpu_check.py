"""The Python steps of ``benchmarks/gpu_check.sh`` (each prints one JSON line per result row).

Subcommands:

* ``determinism OUT_A OUT_B``: compare the per-user test ranks of two results folders written
  by ``seqbench run --deterministic`` with the same seed; a row per (model, seed) cell with the
  number of users whose rank differs (0 = identical).
* ``precision --device cuda``: train the transformer with ``amp="off"`` (fp32) and
  ``amp="bf16"`` on the same seed on Beauty-shaped synthetic data (22,363 users, 12,101 items,
  mean length 8.9) and compare test NDCG@10 (the check: within 0.5% relative).
* ``table FILE...``: print the JSON lines of the earlier steps as one table.

``--dry-run`` shrinks the data so that the steps run on a CPU in seconds (the test suite runs
them that way; numbers from a dry run check the plumbing, not the precision).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: Beauty's shape: 22,363 users, 12,101 items, 198,502 interactions.
BEAUTY_SHAPE = {"n_users": 22_363, "n_items": 12_101, "mean_length": 8.9, "seed": 0}
#: A shape small enough for a CPU in seconds (``--dry-run``).
DRY_SHAPE = {"n_users": 300, "n_items": 120, "mean_length": 8.0, "seed": 0}
#: Relative tolerance of bf16 against fp32 test NDCG@10.
PRECISION_TOLERANCE = 0.005


def compare_ranks(out_a: Path, out_b: Path) -> list[dict]:
    """One row per cell of ``out_a``: users whose test rank differs in ``out_b``'s same cell."""
    from seqrec_bench.store import ResultsDir

    cells_b = {(c.dataset, c.label, c.seed): c for c in ResultsDir(out_b).scan()[0]}
    rows = []
    for cell in ResultsDir(out_a).scan()[0]:
        other = cells_b.get((cell.dataset, cell.label, cell.seed))
        differ = None if other is None else int((cell.ranks != other.ranks).sum())
        env = cell.record.get("environment", {})
        rows.append(
            {
                "check": f"determinism {cell.label} seed {cell.seed}",
                "value": "missing in second run" if differ is None else f"{differ} users differ",
                "ok": differ == 0,
                "device": cell.record.get("device"),
                "detail": f"deterministic_algorithms={env.get('deterministic_algorithms')}",
            }
        )
    return rows


def precision_rows(device: str, dry_run: bool, max_epochs: int) -> list[dict]:
    """fp32 vs bf16 test NDCG@10 of the transformer on one seed."""
    import torch

    from seqrec_bench.data import LeaveOneOutSplit, load_dataset
    from seqrec_bench.evaluation import Evaluator
    from seqrec_bench.models.transformer import TransformerModel

    shape = DRY_SHAPE if dry_run else BEAUTY_SHAPE
    data = load_dataset("synthetic", synthetic=shape, cache=False)
    split = LeaveOneOutSplit.from_sequences(data.sequences)
    validator = Evaluator(split.train, split.valid_targets, metrics=["NDCG@10"])
    tester = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
    values = {}
    for amp in ("off", "bf16"):
        model = TransformerModel(max_epochs=max_epochs, patience=5, amp=amp)
        model.fit(split.train, seed=0, device=device, validator=validator)
        values[amp] = tester.evaluate(model).metrics["NDCG@10"]
    rel = abs(values["bf16"] - values["off"]) / max(values["off"], 1e-12)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else device
    return [
        {
            "check": "bf16 vs fp32 test NDCG@10 (transformer)",
            "value": f"{values['bf16']:.4f} vs {values['off']:.4f} ({100 * rel:.2f}% rel.)",
            "ok": bool(rel <= PRECISION_TOLERANCE) or dry_run,
            "device": name,
            "detail": f"{split.train.n_users} users, {split.train.n_items} items"
            + (" (dry run: not checked)" if dry_run else ""),
        }
    ]


def render(paths: list[Path]) -> str:
    """The JSON lines in ``paths`` (one object per line) as a plain table."""
    rows = []
    for path in paths:
        if path.exists():
            rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    head = ("check", "value", "ok", "device", "detail")
    cells = [
        [str(r.get(k, "")) if k != "ok" else ("yes" if r.get("ok") else "NO") for k in head]
        for r in rows
    ]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    det = sub.add_parser("determinism")
    det.add_argument("out_a", type=Path)
    det.add_argument("out_b", type=Path)
    prec = sub.add_parser("precision")
    prec.add_argument("--device", default="cuda")
    prec.add_argument("--max-epochs", type=int, default=40)
    prec.add_argument("--dry-run", action="store_true")
    table = sub.add_parser("table")
    table.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "table":
        print(render(args.files))
        return 0
    if args.command == "determinism":
        rows = compare_ranks(args.out_a, args.out_b)
    else:
        rows = precision_rows(args.device, args.dry_run, args.max_epochs)
    for row in rows:
        print(json.dumps(row))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
