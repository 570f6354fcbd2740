"""Turning scores into per-user ranks of the target (PROTOCOL §3).

``rank = 1 + #{candidates j != target : score_j >= score_target}``: ties count against the
model, so a constant scorer ranks the target last. With seen-item exclusion every item of the
user's input sequence is removed from the candidates, the target included: the candidate set
never depends on the target, and a target that repeats an input item cannot be hit; its rank is
:data:`UNREACHABLE`, beyond every cut-off, so HR = NDCG = MRR = 0 for that user.
"""

from __future__ import annotations

import numpy as np
import torch

from seqrec_bench.data.sequences import Sequences
from seqrec_bench.errors import SeqbenchError
from seqrec_bench.evaluation.metrics import UNREACHABLE

__all__ = [
    "NonFiniteScoresError",
    "UNREACHABLE",
    "RANKING_RULE",
    "full_ranks",
    "sampled_ranks",
    "check_finite",
    "seen_targets",
]

#: Version of the ranking rule, recorded in every cell's key: 1 kept a repeated target as the
#: only seen candidate (a free hit, PROTOCOL §3 before its correction); 2 removes it, and draws
#: sampled-protocol negatives per user (validation negatives never consult the test item).
RANKING_RULE = 2


class NonFiniteScoresError(SeqbenchError, ValueError):
    """A model produced NaN or +inf scores; ranking them would be meaningless."""


def check_finite(scores: torch.Tensor, rows: np.ndarray | None = None) -> None:
    """Raise :class:`NonFiniteScoresError` naming the first bad user when scores are NaN/+inf.

    ``-inf`` is allowed: it is a model's way to say "never this item".
    """
    # Fast path: one reduction. A finite sum means no NaN and no infinity anywhere; only when
    # it is not finite do we pay for the element-wise checks (-inf alone is legitimate).
    if bool(torch.isfinite(scores.sum())):
        return
    bad = torch.isnan(scores) | torch.isposinf(scores)
    if bool(bad.any()):
        bad_rows = bad.any(dim=1).nonzero().flatten().cpu().numpy()
        first = int(bad_rows[0]) if rows is None else int(rows[bad_rows[0]])
        raise NonFiniteScoresError(
            f"model returned non-finite scores (NaN/+inf) for {len(bad_rows)} user(s), "
            f"first at user row {first}"
        )


def seen_targets(targets: np.ndarray, seen: Sequences) -> np.ndarray:
    """Whether each user's target occurs in their input sequence (a repeat target).

    Example:
        >>> seen = Sequences.from_lists([[1, 2], [3]], n_items=3)
        >>> seen_targets(np.array([2, 1]), seen).tolist()
        [True, False]
    """
    targets = np.asarray(targets, dtype=np.int64)
    out = np.zeros(len(targets), dtype=bool)
    if len(seen.items):
        owner = seen.user_index()
        out[owner[seen.items == targets[owner]]] = True
    return out


def full_ranks(
    scores: torch.Tensor,
    targets: torch.Tensor,
    seen: Sequences | None = None,
    repeat: np.ndarray | None = None,
    *,
    seen_index: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Pessimistic rank of each target among all items, or among the unseen ones.

    Args:
        scores: ``(B, n_items)``; column ``j`` is item ``j + 1``.
        targets: ``(B,)`` item ids in ``1..n_items``.
        seen: the ``B`` input sequences whose items are excluded from the candidates, the
            target included (``None`` = no exclusion).
        repeat: :func:`seen_targets` of ``targets`` and ``seen`` when the caller has the
            targets on the host already (saves a device-to-host copy of ``targets``).
        seen_index: ``(rows, cols)`` of every seen item (``seen.user_index()`` and
            ``seen.items - 1``) already on the scores' device, when the caller keeps them.

    Returns:
        ``(B,)`` int64 ranks, ``1`` = best, on the scores' device; :data:`UNREACHABLE` for a
        target that exclusion removed.
    """
    b = scores.shape[0]
    rows = torch.arange(b, device=scores.device)
    cols = targets.to(scores.device) - 1
    target_scores = scores[rows, cols]
    beats = scores >= target_scores.unsqueeze(1)
    if seen is not None and len(seen.items):
        if seen_index is None:
            seen_index = (
                torch.from_numpy(seen.user_index()).to(scores.device),
                torch.from_numpy(seen.items - 1).to(scores.device),
            )
        beats[seen_index] = False
    beats[rows, cols] = False  # the target is never its own competitor
    ranks = _count_rows(beats) + 1
    return _unreachable(ranks, targets, seen, repeat)


def _unreachable(
    ranks: torch.Tensor, targets: torch.Tensor, seen: Sequences | None, repeat: np.ndarray | None
) -> torch.Tensor:
    """``ranks`` with every repeated target (under exclusion) set to :data:`UNREACHABLE`."""
    if seen is None or not len(seen.items):
        return ranks
    flags = seen_targets(targets.cpu().numpy(), seen) if repeat is None else repeat
    if not flags.any():
        return ranks
    mask = torch.from_numpy(np.asarray(flags, dtype=bool)).to(ranks.device)
    return torch.where(mask, torch.full_like(ranks, UNREACHABLE), ranks)


def _count_rows(mask: torch.Tensor) -> torch.Tensor:
    """Number of True entries per row.

    On the CPU, numpy's count_nonzero is ~20x faster than torch's bool reduction (which widens
    to int64 element by element); the array is shared, not copied.
    """
    if mask.device.type == "cpu":
        return torch.from_numpy(np.count_nonzero(mask.numpy(), axis=1).astype(np.int64))
    return mask.sum(dim=1)


def sampled_ranks(
    scores: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    seen: Sequences | None = None,
    repeat: np.ndarray | None = None,
) -> torch.Tensor:
    """Pessimistic rank of each target among itself and its sampled negatives.

    Args:
        scores: ``(B, n_items)``.
        targets: ``(B,)`` item ids.
        negatives: ``(B, N)`` item ids (never the target, never a seen item).
        seen: with seen-item exclusion, the input sequences: a target that repeats one of their
            items is unreachable, as under full ranking.
    """
    device = scores.device
    target_scores = scores.gather(1, (targets.to(device) - 1).unsqueeze(1))
    neg_scores = scores.gather(1, negatives.to(device) - 1)
    ranks = _count_rows(neg_scores >= target_scores) + 1
    return _unreachable(ranks, targets, seen, repeat)
