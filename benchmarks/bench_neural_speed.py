"""Training and evaluation speed of the neural models at the MovieLens-1M shape.

Default shape: 6,040 users, 3,416 items, mean length 165 (synthetic data from
``load_dataset("synthetic", ...)``), ``max_len=200``, ``hidden=64`` (the SASRec+ setting).
Each model runs in its own child process so that its peak memory is its own.

Reports per model: training tokens/s (next-item targets per second), seconds per epoch,
evaluation users/s (full ranking of the validation split, seen items masked), peak RSS and, on
CUDA, the peak allocated GPU memory.

Usage::

    python benchmarks/bench_neural_speed.py                     # cpu or whatever 'auto' finds
    python benchmarks/bench_neural_speed.py --device cuda --epochs 2
    python benchmarks/bench_neural_speed.py --models gru --threads 1 --users 1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _one(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from seqrec_bench.data import LeaveOneOutSplit, load_dataset
    from seqrec_bench.evaluation.evaluator import Evaluator
    from seqrec_bench.registry import get_model_class
    from seqrec_bench.training import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    ds = load_dataset(
        "synthetic",
        synthetic={
            "n_users": args.users,
            "n_items": args.items,
            "mean_length": args.mean_length,
            "seed": 0,
        },
        cache=False,
        progress=False,
    )
    data_seconds = time.perf_counter() - t0
    split = LeaveOneOutSplit.from_sequences(ds.sequences)
    cls = get_model_class(args.model)
    config = cls.default_config(ds.stats)
    config = type(config)(
        **{
            **{f: getattr(config, f) for f in config.__dataclass_fields__},
            "max_len": args.max_len,
            "hidden": args.hidden,
            "max_epochs": args.epochs,
        }
    )
    model = cls(config)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    # no validator: the epoch time is pure training; evaluation is timed on its own below
    model.fit(split.train, seed=0, device=str(device))
    epoch_seconds = [r["seconds"] for r in model.history]
    lengths = np.minimum(split.train.lengths, args.max_len + 1)
    tokens = int((lengths[lengths >= 2] - 1).sum())
    evaluator = Evaluator(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])
    evaluator.evaluate(model)  # warm-up (allocator, kernels)
    t1 = time.perf_counter()
    result = evaluator.evaluate(model)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    eval_seconds = time.perf_counter() - t1
    out = {
        "model": args.model,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "users": split.n_users,
        "items": split.n_items,
        "mean_length": float(ds.sequences.lengths.mean()),
        "max_len": args.max_len,
        "hidden": args.hidden,
        "data_seconds": data_seconds,
        "train_tokens_per_epoch": tokens,
        "epoch_seconds": epoch_seconds,
        # the first epoch includes one-off warm-up; report the last one's rate
        "train_tokens_per_s": tokens / epoch_seconds[-1],
        "eval_users_per_s": split.n_users / eval_seconds,
        "eval_seconds": eval_seconds,
        "valid_ndcg10": result.metrics["NDCG@10"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if device.type == "cuda":
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="transformer,gru")
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--users", type=int, default=6040)
    p.add_argument("--items", type=int, default=3416)
    p.add_argument("--mean-length", type=float, default=165.0)
    p.add_argument("--max-len", type=int, default=200)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--model", help=argparse.SUPPRESS)  # child-process mode
    args = p.parse_args()
    if args.model:
        print(json.dumps(_one(args)))
        return
    rows = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        cmd = [sys.executable, __file__, "--model", name]
        for key in (
            "device",
            "epochs",
            "users",
            "items",
            "mean_length",
            "max_len",
            "hidden",
            "threads",
        ):
            value = getattr(args, key)
            if value is not None:
                cmd += [f"--{key.replace('_', '-')}", str(value)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if proc.returncode:
            sys.exit(f"{name} failed:\n{proc.stderr}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    r0 = rows[0]
    print(
        f"shape: {r0['users']} users, {r0['items']} items, mean length {r0['mean_length']:.0f}, "
        f"max_len {r0['max_len']}, hidden {r0['hidden']}; device {r0['device']}"
        f"{' (' + r0['gpu'] + ')' if 'gpu' in r0 else ''}, torch threads {r0['torch_threads']}"
    )
    header = (
        f"{'model':<12} {'train tok/s':>11} {'s/epoch':>8} {'eval users/s':>12} {'peak RSS MB':>11}"
    )
    cuda = any("cuda_max_allocated_mb" in r for r in rows)
    print(header + (f" {'CUDA max MB':>11}" if cuda else ""))
    for r in rows:
        line = (
            f"{r['model']:<12} {r['train_tokens_per_s']:>11.0f} {r['epoch_seconds'][-1]:>8.1f} "
            f"{r['eval_users_per_s']:>12.0f} {r['peak_rss_mb']:>11.0f}"
        )
        if cuda:
            line += f" {r.get('cuda_max_allocated_mb', float('nan')):>11.0f}"
        print(line)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
