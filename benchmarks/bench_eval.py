"""Full-ranking evaluation throughput (users/s) of the shared evaluator.

Default shape: 20,000 users x 12,000 items, sequences of mean length 10 (Amazon-like), seen
items masked, pessimistic ties. The scorer is a dot-product model (like every embedding model's
last step), so the figure is the harness's ranking cost plus one matmul per batch.

    python benchmarks/bench_eval.py                 # CPU
    python benchmarks/bench_eval.py --device cuda   # GPU
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from seqrec_bench.data import Sequences
from seqrec_bench.evaluation import Evaluator
from seqrec_bench.models.base import Model


class DotProductScorer(Model):
    """Random user/item embeddings; the user vector is the mean of its last items' vectors."""

    name = "dotproduct"
    description = "benchmark scorer"

    def _fit(self, train, validator):
        g = torch.Generator().manual_seed(self.seed)
        self.emb = torch.randn(self.n_items + 1, 64, generator=g).to(self.device)

    def _score(self, batch):
        x = batch.padded_tensor(20, device=self.device)
        h = self.emb[x].sum(dim=1)
        return h @ self.emb[1:].T


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--items", type=int, default=12_000)
    p.add_argument("--mean-length", type=float, default=10.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    rng = np.random.default_rng(0)
    lengths = np.maximum(3, rng.poisson(args.mean_length, size=args.users)).astype(np.int64)
    items = rng.integers(1, args.items + 1, size=int(lengths.sum()))
    seqs = Sequences.from_lengths(items, lengths, args.items)
    targets = rng.integers(1, args.items + 1, size=args.users)
    model = DotProductScorer().fit(seqs, seed=0, device=args.device)
    ev = Evaluator(seqs, targets, metrics=["HR@10", "NDCG@10"], batch_size=args.batch_size)
    ev.ranks(model)  # warm-up
    times = []
    for _ in range(args.repeats):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        ev.evaluate(model)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    best = min(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"full-ranking evaluation: {args.users:,} users x {args.items:,} items on {args.device} "
        f"(torch threads {torch.get_num_threads()}, batch {ev.batch_size}): "
        f"{best:.2f} s -> {args.users / best:,.0f} users/s (best of {args.repeats}); peak RSS {rss:,.0f} MB"
    )


if __name__ == "__main__":
    main()
