"""Peak memory of full-softmax (``ce``) training at the MovieLens-20M shape, chunked vs not.

The shape: 26,744 items, ``max_len=200``, batch 128 full-length sequences (25,600 positions
per step), hidden 64, 2 blocks: the SASRec+ setting on ML-20M (the number of users does not
change the memory of a step). Each variant runs a few optimisation steps of the transformer's
network and loss in its own child process and reports that process's peak RSS (and on CUDA the
peak allocated device memory):

* ``unchunked``: the loss over all 25,600 x 26,744 logits at once (what the loss did before
  it was chunked; forced with ``chunk_rows`` above the step's positions);
* ``chunked``: the default, chunks chosen by :func:`seqrec_bench.training.ce_chunk_rows`.

Usage::

    python benchmarks/bench_ce_memory.py                  # both variants, 3 steps each
    python benchmarks/bench_ce_memory.py --device cuda --steps 5
    python benchmarks/bench_ce_memory.py --items 100000   # a larger catalogue
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
    import torch

    from seqrec_bench.models.transformer import SASRecModule, TransformerConfig
    from seqrec_bench.training import ce_chunk_rows, full_softmax_loss, resolve_device
    from seqrec_bench.training.precision import autocast_context, resolve_amp

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cfg = TransformerConfig(max_len=args.max_len, hidden=64, n_blocks=2, dropout=0.1)
    module = SASRecModule(args.items, cfg).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    batch = torch.randint(1, args.items + 1, (args.batch, args.max_len + 1), generator=gen)
    batch = batch.to(device)
    positions = args.batch * args.max_len
    rows = None if args.variant == "chunked" else positions + 1
    autocast = autocast_context(device, resolve_amp("auto", device))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        with autocast():
            hidden = module(batch[:, :-1]).reshape(positions, -1)
            loss = full_softmax_loss(
                hidden, module.item_weights(), batch[:, 1:].reshape(-1), chunk_rows=rows
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        float(loss)
        seconds.append(time.perf_counter() - t0)
    with autocast():
        chunk = ce_chunk_rows(args.items, device) if rows is None else rows
    return {
        "variant": args.variant,
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "items": args.items,
        "positions": positions,
        "chunk_rows": min(chunk, positions),
        "step_seconds": min(seconds),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": (
            torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--items", type=int, default=26_744)
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--variants", default="unchunked,chunked")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.variant = args.child
        print(json.dumps(_one(args)))
        return
    rows = []
    for variant in args.variants.split(","):
        cmd = [sys.executable, __file__, "--child", variant]
        for name in ("device", "items", "max_len", "batch", "steps", "threads"):
            cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
        out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(f"{variant} failed")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return
    print(
        f"{'variant':<10} {'device':<7} {'items':>7} {'positions':>9} {'chunk':>6} "
        f"{'s/step':>7} {'peak RSS MB':>11} {'peak GPU MB':>11}"
    )
    for r in rows:
        gpu = f"{r['peak_gpu_mb']:.0f}" if r["peak_gpu_mb"] is not None else "-"
        print(
            f"{r['variant']:<10} {r['device']:<7} {r['items']:>7} {r['positions']:>9} "
            f"{r['chunk_rows']:>6} {r['step_seconds']:>7.2f} {r['peak_rss_mb']:>11.0f} {gpu:>11}"
        )
    print(f"torch {rows[0]['torch']}, {rows[0]['threads']} thread(s)")


if __name__ == "__main__":
    main()
