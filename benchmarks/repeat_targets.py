"""What the corrected PROTOCOL §3 changes on data with repeat targets.

Builds a data set with repeat targets from an interaction log (default: ML-100K from
``../shared``): for a tenth of the users (seeded), the last item is replaced by an earlier item of
theirs, so the test target repeats an input item. Then markov and a *seen-first* scorer
(popularity, plus a bonus that puts every item of the user's input first) are ranked four ways:

* ``old rule``: seen items removed except a repeated target (PROTOCOL §3 before its correction;
  reimplemented here, since the harness no longer offers it);
* ``exclude seen`` (the default now): every input item removed, a repeated target unreachable;
* ``all items`` (``--no-exclude-seen``);
* ``--repeat-split`` of ``all items``: repeat-target and novel-target users apart.

The data is built in memory and never written; nothing here is tuned (markov's back-off is
chosen on validation as in every run).

Usage::

    python benchmarks/repeat_targets.py [--log ../shared/data/ml-100k/u.data] [--share 0.1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from seqrec_bench.data import LeaveOneOutSplit, Sequences, load_dataset
from seqrec_bench.evaluation import Evaluator, seen_targets
from seqrec_bench.evaluation.metrics import ndcg
from seqrec_bench.evaluation.ranking import _count_rows
from seqrec_bench.models import MarkovModel, PopularityModel


class SeenFirst(PopularityModel):
    """Popularity, with every item of the user's input scored above every other item."""

    def _score(self, batch: Sequences) -> torch.Tensor:
        scores = super()._score(batch).clone()
        rows = torch.from_numpy(batch.user_index())
        scores[rows, torch.from_numpy(batch.items - 1)] += 1e6
        return scores


def with_repeat_targets(seqs: Sequences, share: float, seed: int) -> Sequences:
    """A copy where ``share`` of the users' last item is one of their earlier items."""
    rng = np.random.default_rng(seed)
    items = seqs.items.copy()
    users = np.flatnonzero(rng.random(seqs.n_users) < share)
    last = seqs.offsets[1:][users] - 1
    # an earlier item of the same user, never the validation item (so the test target repeats
    # the training part of the input)
    earlier = seqs.offsets[:-1][users] + (
        rng.random(len(users)) * (seqs.lengths[users] - 2)
    ).astype(np.int64)
    items[last] = items[earlier]
    return Sequences(items, seqs.offsets.copy(), seqs.n_items)


def old_rule_ranks(model, inputs: Sequences, targets: np.ndarray) -> np.ndarray:
    """Ranks under the rule before the correction: the repeated target stays a candidate."""
    scores = model.score(inputs)
    rows = torch.arange(len(targets))
    t = torch.from_numpy(targets - 1)
    beats = scores >= scores[rows, t].unsqueeze(1)
    beats[torch.from_numpy(inputs.user_index()), torch.from_numpy(inputs.items - 1)] = False
    beats[rows, t] = False
    return (_count_rows(beats) + 1).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    here = Path(__file__).resolve().parent
    ap.add_argument("--log", type=Path, default=here / "../../shared/data/ml-100k/u.data")
    ap.add_argument("--share", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    base = load_dataset(str(args.log), cache=False, progress=False)
    seqs = with_repeat_targets(base.sequences, args.share, args.seed)
    split = LeaveOneOutSplit.from_sequences(seqs)
    test_inputs, targets = split.test_inputs, split.test_targets()
    repeat = seen_targets(targets, test_inputs)
    print(
        f"{args.log.name} with {args.share:.0%} of the users' last item replaced by an earlier one: "
        f"{int(repeat.sum())} of {len(repeat)} test targets repeat an input item"
    )
    validator = Evaluator(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])
    models = {
        "markov": MarkovModel().fit(split.train, seed=0, validator=validator),
        "seen-first": SeenFirst().fit(split.train, seed=0),
    }
    print(
        f"{'model':<11} {'old rule':>9} {'exclude seen':>13} {'all items':>10} {'repeat users':>13} {'novel users':>12}"
    )
    for name, model in models.items():
        old = ndcg(old_rule_ranks(model, test_inputs, targets), 10).mean()
        strict = ndcg(Evaluator(test_inputs, targets, metrics=["NDCG@10"]).ranks(model), 10)
        everything = ndcg(
            Evaluator(test_inputs, targets, metrics=["NDCG@10"], exclude_seen=False).ranks(model),
            10,
        )
        print(
            f"{name:<11} {old:>9.4f} {strict.mean():>13.4f} {everything.mean():>10.4f} "
            f"{everything[repeat].mean():>13.4f} {everything[~repeat].mean():>12.4f}"
        )
    print(f"NDCG@10 on the test split; repeat users: {int(repeat.sum())}, novel users: {int((~repeat).sum())}; "
          f"targets unreachable under seen-item exclusion: {repeat.mean():.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
