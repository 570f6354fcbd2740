"""How much of the synthetic data set's planted structure a first-order model can reach.

Scorers that are *not* library models, on the **validation** split of ``synthetic``:

* ``popularity``: training counts;
* ``lag-1 counts``: (last item -> next item) transition frequencies, what a first-order Markov
  chain can know (``markov`` adds smoothing and a popularity back-off chosen on validation);
* ``lag-1 + echo-lag counts``: the same plus the transitions from the item ``echo_lag`` steps
  back (only useful when ``p_echo > 0``);
* ``planted oracle``: the generator's own next-item probabilities (:func:`planted_scores`: it is
  handed the hidden topic, successor and partner tables), an upper reference for any model.

The gap between ``lag-1 counts`` and the oracle is the headroom a sequence model (transformer,
GRU) has over ``markov``; how much of it a model reaches is what the synthetic rows of
``results/quality.md`` measure. Validation only: nothing here looks at test targets.

    python benchmarks/synthetic_headroom.py                      # generator defaults
    python benchmarks/synthetic_headroom.py p_echo=0.2 n_users=5000
"""

from __future__ import annotations

import sys

import numpy as np

from seqrec_bench.data import SyntheticConfig, load_dataset
from seqrec_bench.data.split import LeaveOneOutSplit
from seqrec_bench.data.synthetic import planted_scores


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
    config = SyntheticConfig.from_dict(options)
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
    popularity = np.bincount(train.items, minlength=n + 1) / len(train.items)
    lag1 = transitions(1)[inputs.last(1)] + 1e-3 * popularity
    echo = lag1 + transitions(config.echo_lag)[inputs.last(config.echo_lag)]

    oracle = planted_scores(config, dataset.vocab, inputs)
    oracle += 1e-9 * popularity  # same tie-break, far below any planted probability

    rows = [
        ("popularity", np.broadcast_to(popularity, (len(targets), n + 1))),
        ("lag-1 counts (what markov can know)", lag1),
        (f"lag-1 + lag-{config.echo_lag} counts", echo),
        ("planted oracle (the generator's own probabilities)", oracle),
    ]
    print(f"synthetic {options or '(defaults)'}: validation NDCG@10, {len(targets):,} users")
    for name, scores in rows:
        print(f"  {name:<52} {_ndcg_at_10(np.asarray(scores), inputs, targets):.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
