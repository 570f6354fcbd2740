"""``seqbench check DATASET``: does the data look sequential? Answered in seconds, on validation.

Several popular data sets have weak sequential structure (Klenitskiy et al., "Does It Look
Sequential?", RecSys 2024): a model of order can only shine where order carries signal. This
check fits no neural model. It compares, on the validation split only (the test targets are
never read), popularity with a first-order Markov chain, then the Markov chain again after each
user's training and input order was shuffled (the held-out items stay held out): a chain that
loses significantly has found order; one that does not is living on co-occurrence. It also
prints the data's tie shares, the repeat-target share (targets that seen-item exclusion makes
unreachable) and, for timestamped data, the leave-one-out leakage report and time-aware
popularity (``recentpop``, its window chosen on the same validation targets) beside plain
popularity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seqrec_bench.data.controls import shuffle_within_users

__all__ = ["CheckResult", "sequential_check", "render_check"]

#: The validation metric the check compares.
METRIC = "NDCG@10"


@dataclass
class CheckResult:
    """What :func:`sequential_check` measured (validation only)."""

    name: str
    users: int
    items: int
    scores: dict[str, float]
    shuffle_p: float
    stats: dict[str, Any]


def sequential_check(dataset: Any, seed: int = 0) -> CheckResult:
    """Pop, markov and markov on shuffled order (and recentpop on timestamped data), on the
    leave-one-out validation split."""
    from seqrec_bench.data.split import LeaveOneOutSplit
    from seqrec_bench.evaluation import Evaluator
    from seqrec_bench.evaluation.metrics import parse_metric
    from seqrec_bench.models import MarkovModel, PopularityModel, RecentPopModel
    from seqrec_bench.stats import paired_t_test

    seqs = dataset.sequences
    if dataset.timestamps is not None:
        seqs = seqs.with_times(dataset.timestamps)
    split = LeaveOneOutSplit.from_sequences(seqs)
    # the validation input is the training sequence: shuffling it shuffles both, and the
    # validation target (the user's next item) stays where it is
    shuffled = shuffle_within_users(split.train, seed)
    metric = parse_metric(METRIC)
    per_user: dict[str, np.ndarray] = {}
    runs: list[tuple[str, Any, Any]] = [
        ("pop", PopularityModel(), split.train),
        ("markov", MarkovModel(select_on_validation=False), split.train),
        ("markov, shuffled order", MarkovModel(select_on_validation=False), shuffled),
    ]
    if split.train.times is not None:
        runs.insert(1, ("recentpop (window chosen on validation)", RecentPopModel(), split.train))
    for label, model, train in runs:
        evaluator = Evaluator(train, split.valid_targets, metrics=[METRIC])
        # recentpop chooses its window on these validation targets, so its figure is the best of
        # its grid: an upper bound, said in its label
        model.fit(train, seed=seed, validator=evaluator if label.startswith("recentpop") else None)
        per_user[label] = metric(evaluator.ranks(model))
    test = paired_t_test(per_user["markov"], per_user["markov, shuffled order"])
    return CheckResult(
        name=dataset.name,
        users=split.n_users,
        items=split.n_items,
        scores={k: float(v.mean()) for k, v in per_user.items()},
        shuffle_p=float(test.pvalue),
        stats=dict(dataset.stats),
    )


def render_check(result: CheckResult, console: Any) -> None:
    """Print a :class:`CheckResult` as a small table and a verdict line."""
    from rich.table import Table

    from seqrec_bench.data import hygiene_line, leakage_line

    console.print(
        f"[bold]sequential-signal check: {result.name}[/] ({result.users:,} users, "
        f"{result.items:,} items; validation {METRIC}, no test target read)",
        highlight=False,
    )
    table = Table()
    table.add_column("model")
    table.add_column(f"validation {METRIC}", justify="right")
    for label, value in result.scores.items():
        table.add_row(label, f"{value:.4f}")
    console.print(table)
    plain, shuffled = result.scores["markov"], result.scores["markov, shuffled order"]
    drop = (plain - shuffled) / plain if plain > 0 else 0.0
    significant = result.shuffle_p < 0.05 and shuffled < plain
    verdict = (
        f"markov loses {drop:.0%} of its validation {METRIC} when each user's order is shuffled "
        f"(paired t-test p = {result.shuffle_p:.2g}): "
        + (
            "the order of interactions carries signal"
            if significant
            else "no significant loss: little sequential signal beyond co-occurrence"
        )
    )
    console.print(verdict, highlight=False)
    console.print(f"markov vs pop: {plain:.4f} vs {result.scores['pop']:.4f}", highlight=False)
    recent = next((k for k in result.scores if k.startswith("recentpop")), None)
    if recent is not None:
        console.print(
            f"time-aware vs plain popularity: {result.scores[recent]:.4f} vs "
            f"{result.scores['pop']:.4f}",
            highlight=False,
        )
    console.print(hygiene_line(result.stats), highlight=False)
    repeat = result.stats.get("test_repeat_share")
    if repeat is not None:
        console.print(
            f"repeat targets: {repeat:.1%} of test targets repeat an input item "
            "(unreachable under seen-item exclusion)",
            highlight=False,
        )
    leak = leakage_line(result.stats)
    console.print(f"leakage (leave-one-out): {leak or 'n/a (no timestamps)'}", highlight=False)
