"""Batched evaluation: scores -> per-user ranks -> metrics, identical for every model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from seqrec_bench.data.sequences import Sequences
from seqrec_bench.evaluation.metrics import parse_metric
from seqrec_bench.evaluation.ranking import check_finite, full_ranks, sampled_ranks, seen_targets

if TYPE_CHECKING:
    from seqrec_bench.models.base import Model

__all__ = ["Evaluator", "EvaluationResult", "summarize_ranks", "per_user_values"]

#: Scores held at once per batch (rows x items); ~64 MB of float32.
_SCORE_BUDGET = 1 << 24


@dataclass
class EvaluationResult:
    """Per-user ranks plus the mean of every requested metric."""

    ranks: np.ndarray
    metrics: dict[str, float]
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def per_user_values(values: np.ndarray, owner: np.ndarray | None) -> np.ndarray:
    """Per-target metric ``values`` as one value per user: the mean over each user's targets
    (ascending user rows), or ``values`` itself without ``owner`` (one target per user).

    Example:
        >>> per_user_values(np.array([1.0, 0.0, 0.5]), np.array([4, 4, 7])).tolist()
        [0.5, 0.5]
    """
    if owner is None:
        return values
    from seqrec_bench.data.temporal import GlobalTemporalSplit

    return GlobalTemporalSplit.per_user_mean(values, owner)


def summarize_ranks(
    ranks: np.ndarray, labels: list[str], owner: np.ndarray | None = None
) -> dict[str, float]:
    """Mean value of each metric label over users (each user's targets averaged first)."""
    return {
        label: float(per_user_values(parse_metric(label)(ranks), owner).mean()) for label in labels
    }


class Evaluator:
    """Ranks one held-out target per user and computes metrics.

    Args:
        inputs: the input sequences (validation: train; test: train + validation item).
        targets: one target item per user.
        metrics: labels such as ``["HR@10", "NDCG@10"]``.
        exclude_seen: remove the input items from the candidates, the target included (a
            target repeating an input item is then unreachable: PROTOCOL §3).
        negatives: ``(n_users, N)`` sampled negatives for the sampled protocols; ``None`` = full
            ranking over every item.
        batch_size: users scored at once; ``None`` picks one that bounds the score matrix.
            Ranks do not depend on it.
        owner: the user of every (input, target) row when a user may own several (the global
            temporal split); metrics then average each user's rows first, then users.

    Example:
        >>> ev = Evaluator(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])  # doctest: +SKIP
        >>> ev.evaluate(model).metrics["NDCG@10"]  # doctest: +SKIP
    """

    def __init__(
        self,
        inputs: Sequences,
        targets: np.ndarray,
        *,
        metrics: list[str] | tuple[str, ...] = ("HR@10", "NDCG@10"),
        exclude_seen: bool = True,
        negatives: np.ndarray | None = None,
        batch_size: int | None = None,
        owner: np.ndarray | None = None,
    ) -> None:
        targets = np.asarray(targets, dtype=np.int64)
        if len(targets) != inputs.n_users:
            raise ValueError(f"{len(targets)} targets for {inputs.n_users} users")
        if len(targets) and (targets.min() < 1 or targets.max() > inputs.n_items):
            raise ValueError(f"targets must lie in 1..{inputs.n_items}")
        self.metric_labels = [parse_metric(m).label for m in metrics]
        n_candidates = inputs.n_items if negatives is None else negatives.shape[1] + 1
        for label in self.metric_labels:
            k = parse_metric(label).k
            if k is not None and k > n_candidates:
                raise ValueError(
                    f"{label}: k={k} is larger than the {n_candidates} candidates per user"
                )
        if negatives is not None and negatives.shape[0] != inputs.n_users:
            raise ValueError("need one row of negatives per user")
        if owner is not None and len(owner) != len(targets):
            raise ValueError(f"{len(owner)} owners for {len(targets)} targets")
        self.owner = owner
        self.inputs = inputs
        self.targets = targets
        self.exclude_seen = exclude_seen
        self.negatives = negatives
        self.batch_size = batch_size or max(1, min(4096, _SCORE_BUDGET // max(inputs.n_items, 1)))

    @property
    def n_users(self) -> int:
        return self.inputs.n_users

    def ranks(self, model: Model) -> np.ndarray:
        """Per-user 1-based ranks of the targets under ``model`` (int64 numpy array)."""
        out = []
        for start in range(0, self.n_users, self.batch_size):
            stop = min(start + self.batch_size, self.n_users)
            batch = self.inputs.select(slice(start, stop))
            scores = model.score(batch)
            check_finite(scores, rows=np.arange(start, stop))
            # copies of the batch's rows: arrays shipped through Ray's object store are read-only,
            # and torch warns about (and must never write into) a tensor over read-only memory
            targets = torch.from_numpy(self.targets[start:stop].copy()).to(scores.device)
            seen = batch if self.exclude_seen else None
            # repeat targets from the host copy: no device-to-host sync per batch
            repeat = seen_targets(self.targets[start:stop], batch) if seen is not None else None
            if self.negatives is None:
                r = full_ranks(scores, targets, seen, repeat)
            else:
                negs = torch.from_numpy(self.negatives[start:stop].copy()).to(scores.device)
                r = sampled_ranks(scores, targets, negs, seen, repeat)
            out.append(r)
        if not out:
            return np.zeros(0, dtype=np.int64)
        # one host sync for the whole evaluation
        return torch.cat([r.to("cpu") for r in out]).numpy().astype(np.int64)

    def evaluate(self, model: Model) -> EvaluationResult:
        """Ranks plus mean metrics (and the wall time it took)."""
        t0 = time.perf_counter()
        ranks = self.ranks(model)
        return EvaluationResult(
            ranks=ranks,
            metrics=summarize_ranks(ranks, self.metric_labels, self.owner),
            seconds=time.perf_counter() - t0,
        )
