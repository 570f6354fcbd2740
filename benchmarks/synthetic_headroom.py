"""How much of the synthetic data set's planted structure a first-order model can reach.

Two transition-count scorers (not library models) on the *validation* split of ``synthetic``:

* ``lag 1``: counts of (last item -> next item) -- what a first-order Markov chain can know;
* ``lag 1+3``: the same plus counts of (item 3 steps back -> next item) -- part of what a
  sequence model (transformer, GRU) could know on top.

The gap between the two is the headroom a sequence model has over ``markov`` from the echo
mechanism alone. Validation only: nothing here may be used to look at test targets.

    python benchmarks/synthetic_headroom.py                      # generator defaults
    python benchmarks/synthetic_headroom.py p_echo=0.3 n_users=5000
"""

from __future__ import annotations

import sys

import numpy as np

from seqrec_bench.data import load_dataset
from seqrec_bench.data.split import LeaveOneOutSplit


def _ndcg_at_10(scores: np.ndarray, inputs, targets: np.ndarray) -> float:
    """PROTOCOL NDCG@10: seen items masked (target kept), pessimistic ties."""
    scores = scores.copy()
    scores[:, 0] = -np.inf  # padding id
    seen = np.zeros_like(scores, dtype=bool)
    seen[inputs.user_index(), inputs.items] = True
    seen[np.arange(len(targets)), targets] = False
    scores[seen] = -np.inf
    target = scores[np.arange(len(targets)), targets]
    rank = (scores >= target[:, None]).sum(1)  # the target counts itself: 1-based, pessimistic
    return float(np.where(rank <= 10, 1.0 / np.log2(rank + 1), 0.0).mean())


def main(argv: list[str]) -> None:
    options = dict(arg.split("=", 1) for arg in argv)
    dataset = load_dataset("synthetic", synthetic=options, cache=False)
    split = LeaveOneOutSplit.from_sequences(dataset.sequences)
    train, n = split.train, dataset.sequences.n_items
    user_of = train.user_index()

    def transitions(lag: int) -> np.ndarray:
        pos = np.flatnonzero(user_of[lag:] == user_of[:-lag]) + lag
        counts = np.zeros((n + 1, n + 1))
        np.add.at(counts, (train.items[pos - lag], train.items[pos]), 1)
        return counts / np.maximum(counts.sum(1, keepdims=True), 1)

    inputs, targets = split.valid_inputs, split.valid_targets
    # a tiny popularity term breaks the ties among items never seen after the last one
    pop = 1e-3 * np.bincount(train.items, minlength=n + 1) / len(train.items)
    lag1 = transitions(1)[inputs.last(1)] + pop
    both = lag1 + transitions(3)[inputs.last(3)]
    print(f"synthetic {options or '(defaults)'}: validation NDCG@10")
    print(f"  count oracle, lag 1   (what markov can know): {_ndcg_at_10(lag1, inputs, targets):.4f}")
    print(f"  count oracle, lag 1+3 (sequence headroom):    {_ndcg_at_10(both, inputs, targets):.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
