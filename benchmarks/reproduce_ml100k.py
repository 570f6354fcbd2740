"""Reproduce the MovieLens-100K ordering: transformer > gru > markov > pop on test NDCG@10.

Full ranking, seen items masked, seed 0, each model with its dataset defaults (MovieLens-100K's
median history of 65 items selects the long-history defaults of the neural models).

Usage::

    python benchmarks/reproduce_ml100k.py
    python benchmarks/reproduce_ml100k.py --models transformer,gru --threads 1
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reproduce_common import main  # noqa: E402

if __name__ == "__main__":
    rows = main("ml-100k", __doc__.splitlines()[0], "pop,markov,gru,transformer")
    by_name = {r["model"]: r["test"]["NDCG@10"] for r in rows}
    order = ["transformer", "gru", "markov", "pop"]
    if all(m in by_name for m in order):
        ok = all(by_name[a] > by_name[b] for a, b in zip(order, order[1:], strict=False))
        print(f"ordering transformer > gru > markov > pop on NDCG@10: {'yes' if ok else 'NO'}")
