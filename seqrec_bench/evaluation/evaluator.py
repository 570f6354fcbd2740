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


def _defer_finite_check(device: torch.device) -> bool:
    """Check finiteness once at the end (accelerators: no host sync per block) or per block."""
    return device.type != "cpu"


def _model_device(model: Model) -> torch.device:
    """The device a model scores on (``model.device``; the CPU when it has none)."""
    try:
        return torch.device(getattr(model, "device", None) or "cpu")
    except (RuntimeError, TypeError):
        return torch.device("cpu")


@dataclass
class _PreparedBatch:
    """One score block of an :class:`Evaluator`: its users and their index tensors on a device."""

    users: np.ndarray
    inputs: Sequences
    device: torch.device
    targets: torch.Tensor
    seen: Sequences | None
    repeat: np.ndarray | None
    seen_index: tuple[torch.Tensor, torch.Tensor] | None
    negatives: torch.Tensor | None

    @classmethod
    def build(cls, ev: Evaluator, users: np.ndarray, device: torch.device) -> _PreparedBatch:
        batch = ev.inputs.select(users)
        # copies: arrays shipped through Ray's object store are read-only, and torch warns
        # about (and must never write into) a tensor over read-only memory
        targets_host = ev.targets[users].copy()
        seen = batch if ev.exclude_seen else None
        repeat = seen_index = None
        if seen is not None:
            # repeat targets from the host copy: no device-to-host sync per batch
            repeat = seen_targets(targets_host, batch)
            if len(batch.items):
                seen_index = (
                    torch.from_numpy(batch.user_index()).to(device),
                    torch.from_numpy(batch.items - 1).to(device),
                )
        negatives = None
        if ev.negatives is not None:
            negatives = torch.from_numpy(ev.negatives[users].copy()).to(device)
        return cls(
            users=users,
            inputs=batch,
            device=torch.device(device),
            targets=torch.from_numpy(targets_host).to(device),
            seen=seen,
            repeat=repeat,
            seen_index=seen_index,
            negatives=negatives,
        )


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
        batch_size: users scored at once; ``None`` picks one that bounds the score matrix
            (on CUDA from the free device memory). Ranks do not depend on it, nor on the order
            in which users are scored (by length, shortest first).
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
        self._fixed_batch_size = batch_size
        self.batch_size = batch_size or max(1, min(4096, _SCORE_BUDGET // max(inputs.n_items, 1)))
        # users in order of length: a batch of similar lengths pads less, which is most of a
        # sequence model's scoring time on short-history data (ranks do not depend on it)
        self._order = np.argsort(inputs.lengths, kind="stable")
        self._prepared: dict[str, list[_PreparedBatch]] = {}

    @property
    def n_users(self) -> int:
        return self.inputs.n_users

    def _batch_size_for(self, device: torch.device) -> int:
        """Users per score block: the fixed one, or on CUDA one sized from free memory."""
        if self._fixed_batch_size is not None or device.type != "cuda":
            return self.batch_size
        try:
            free, _ = torch.cuda.mem_get_info(device)
        except (RuntimeError, AssertionError):
            return self.batch_size
        # a score row costs its float32 scores plus the boolean comparison and the model's own
        # temporaries: ~16 bytes per item, and a quarter of the free memory is the budget
        rows = (free // 4) // (16 * max(self.inputs.n_items, 1))
        return int(max(1, min(16_384, rows)))

    def _batches(self, device: torch.device) -> list[_PreparedBatch]:
        """The score blocks of ``device``, each with its seen-item index, built once per device."""
        key = str(device)
        if key not in self._prepared:
            # sized once per device: free memory moves with the allocator, the blocks do not
            size = self._batch_size_for(device)
            self._prepared[key] = [
                _PreparedBatch.build(self, self._order[start : start + size], device)
                for start in range(0, self.n_users, size)
            ]
        return self._prepared[key]

    def ranks(self, model: Model) -> np.ndarray:
        """Per-user 1-based ranks of the targets under ``model`` (int64 numpy array).

        Users are scored in blocks of similar length; the seen-item index of every block is
        built on the model's device the first time (the validator of a training run is asked
        every epoch). On an accelerator the host waits once, at the end: the finiteness of the
        scores is checked on the device and only users whose scores sum to a non-finite value
        are scored again, on the host side, to tell ``-inf`` (allowed) from NaN/+inf.
        """
        if self.n_users == 0:
            return np.zeros(0, dtype=np.int64)
        device = _model_device(model)
        out: list[torch.Tensor] = []
        suspect: list[torch.Tensor] = []
        for block in self._batches(device):
            scores = model.score(block.inputs)
            if scores.device != block.device:
                # a model that scores elsewhere than it says: index that device once too
                block = _PreparedBatch.build(self, block.users, scores.device)
            if not _defer_finite_check(scores.device):
                check_finite(scores, rows=block.users)
            else:
                suspect.append(~torch.isfinite(scores.sum(dim=1)))
            if self.negatives is None:
                r = full_ranks(
                    scores, block.targets, block.seen, block.repeat, seen_index=block.seen_index
                )
            else:
                assert block.negatives is not None
                r = sampled_ranks(scores, block.targets, block.negatives, block.seen, block.repeat)
            out.append(r)
        # one host sync for the whole evaluation
        ranks = torch.cat(out)
        if suspect:
            flags = torch.cat(suspect)
            both = torch.stack([ranks, flags.to(ranks.dtype)]).cpu().numpy()
            ranks_host, flagged = both[0], both[1].astype(bool)
            if flagged.any():
                self._recheck(model, self._order[flagged])
        else:
            ranks_host = ranks.numpy()
        result = np.empty(self.n_users, dtype=np.int64)
        result[self._order] = ranks_host
        return result

    def _recheck(self, model: Model, users: np.ndarray) -> None:
        """Raise for NaN/+inf scores of ``users`` (whose score sums were not finite)."""
        users = np.sort(users)
        for start in range(0, len(users), self.batch_size):
            part = users[start : start + self.batch_size]
            check_finite(model.score(self.inputs.select(part)), rows=part)

    def evaluate(self, model: Model) -> EvaluationResult:
        """Ranks plus mean metrics (and the wall time it took)."""
        t0 = time.perf_counter()
        ranks = self.ranks(model)
        return EvaluationResult(
            ranks=ranks,
            metrics=summarize_ranks(ranks, self.metric_labels, self.owner),
            seconds=time.perf_counter() - t0,
        )
