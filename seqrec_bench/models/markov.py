"""Markov-chain baseline: transition counts between consecutive training items.

``P(j | i) = (C[i, j] + alpha) / (C[i, .] + alpha * n_items)`` (add-alpha smoothing), mixed with
popularity: ``score_j = (1 - w) * P(j | i) + w * pop(j)``, and pure popularity when ``i`` never
had an outgoing transition. With ``order=2`` the pair ``(h, i)`` of the last two items is used
first and backs off to the first-order estimate with weight ``w`` (and on to popularity).

With ``select_on_validation`` (default) the back-off weight is chosen from a small grid by
validation NDCG@10 — model selection on validation only, like the neural models' early
stopping, so the baseline is not handicapped by an arbitrary constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from seqrec_bench.data.sequences import Sequences
from seqrec_bench.models.base import Model, Validator
from seqrec_bench.models.space import Param

__all__ = ["MarkovModel", "MarkovConfig"]

_WEIGHT_GRID = (0.0001, 0.001, 0.01, 0.05, 0.2, 0.5)
#: The validation metric the back-off weight is chosen by.
MONITOR = "NDCG@10"


@dataclass(frozen=True)
class MarkovConfig:
    """Hyper-parameters of :class:`MarkovModel`.

    Attributes:
        order: 1 (last item) or 2 (last two items, backing off to order 1).
        alpha: add-alpha smoothing of the transition counts.
        backoff_weight: weight ``w`` of the lower-order/popularity estimate.
        select_on_validation: choose ``backoff_weight`` from a grid by validation NDCG@10.
    """

    order: int = 1
    alpha: float = 0.01
    backoff_weight: float = 0.01
    select_on_validation: bool = True

    def __post_init__(self) -> None:
        if self.order not in (1, 2):
            raise ValueError("order must be 1 or 2")
        if self.alpha < 0:
            raise ValueError("alpha must be >= 0")
        if not 0.0 <= self.backoff_weight <= 1.0:
            raise ValueError("backoff_weight must lie in [0, 1]")


class MarkovModel(Model[MarkovConfig]):
    """First- (or second-) order Markov chain with add-alpha smoothing and popularity back-off."""

    name = "markov"
    description = "Markov chain over consecutive items, add-alpha smoothing, popularity back-off."
    training_samples = "every pair of consecutive training items of every user (counts)"
    config_cls = MarkovConfig
    # the back-off weight is not searched: every fit already chooses it on validation from its
    # own grid (select_on_validation); tuning searches the context length and the smoothing
    search_space = {
        "order": Param.choice(1, 2),
        "alpha": Param.choice(0.001, 0.01, 0.1, 1.0),
    }

    def _fit(self, train: Sequences, validator: Validator | None) -> None:
        n = train.n_items
        items = train.items
        # consecutive pairs inside one user's sequence: position p and p+1 of the same row
        starts = np.zeros(len(items), dtype=bool)
        starts[train.offsets[:-1][train.lengths > 0]] = True
        nxt = np.flatnonzero(~starts)  # positions that have a predecessor in the same row
        prev_items, next_items = items[nxt - 1], items[nxt]
        self._first = sp.csr_matrix(
            (np.ones(len(nxt), dtype=np.float32), (prev_items, next_items - 1)), shape=(n + 1, n)
        )
        self._first.sum_duplicates()
        self._second = None
        if self.config.order == 2:
            # pairs (h, i) -> j, where h, i, j are consecutive in one row
            has2 = nxt[np.isin(nxt - 1, nxt)]
            ctx = items[has2 - 2] * (n + 1) + items[has2 - 1]
            self._contexts, ctx_idx = np.unique(ctx, return_inverse=True)
            self._second = sp.csr_matrix(
                (np.ones(len(has2), dtype=np.float32), (ctx_idx, items[has2] - 1)),
                shape=(len(self._contexts), n),
            )
            self._second.sum_duplicates()
        pop = train.item_counts()[1:].astype(np.float64)
        self._pop = torch.from_numpy((pop / max(pop.sum(), 1.0)).astype(np.float32)).to(self.device)
        self._weight = self.config.backoff_weight
        if self.config.select_on_validation and validator is not None:
            # a validation search over one field, recorded as a selection (not as epochs)
            scores = []
            for w in _WEIGHT_GRID:
                self._weight = w
                scores.append(float(validator.evaluate(self).metrics.get(MONITOR, 0.0)))
                self.history.append({"backoff_weight": w, MONITOR: scores[-1]})
            best = int(np.argmax(scores))  # the first of equal scores
            self._weight = _WEIGHT_GRID[best]
            self.selection = {
                "field": "backoff_weight",
                "value": self._weight,
                "grid": list(_WEIGHT_GRID),
                "metric": MONITOR,
                "scores": scores,
            }

    def _mixed(
        self, counts: sp.csr_matrix, rows: np.ndarray, lower: torch.Tensor | None
    ) -> torch.Tensor:
        """``(1 - w) * P(j | context) + w * lower`` for the given context rows, where contexts
        without any outgoing transition get ``lower`` (or popularity) itself.

        Computed in place on one dense block: at 1k users x 12k items every temporary costs
        tens of MB, and this runs once per validation grid point.
        """
        w, alpha = self._weight, self.config.alpha
        block = _dense_rows(counts, rows, torch.device(self.device))
        totals = block.sum(dim=1, keepdim=True)
        block.add_(alpha).div_((totals + alpha * self.n_items).clamp_min(1e-12)).mul_(1.0 - w)
        base = self._pop.unsqueeze(0) if lower is None else lower
        block.add_(base, alpha=w)
        empty = totals.squeeze(1) == 0
        if bool(empty.any()):
            block[empty] = base.expand_as(block)[empty]
        return block

    def _score(self, batch: Sequences) -> torch.Tensor:
        scores = self._mixed(self._first, batch.last(1), None)
        if self._second is not None:
            prev, last = batch.last(2), batch.last(1)
            ctx = prev * (self.n_items + 1) + last
            if len(self._contexts):
                pos = np.searchsorted(self._contexts, ctx).clip(max=len(self._contexts) - 1)
                found = (self._contexts[pos] == ctx) & (prev > 0)
            else:
                pos, found = np.zeros(len(ctx), dtype=np.int64), np.zeros(len(ctx), dtype=bool)
            if found.any():
                idx = np.flatnonzero(found)
                scores[torch.from_numpy(idx).to(self.device)] = self._mixed(
                    self._second, pos[idx], scores[torch.from_numpy(idx).to(self.device)]
                )
        return scores


def _dense_rows(
    counts: sp.csr_matrix, rows: np.ndarray, device: torch.device, on_host: bool | None = None
) -> torch.Tensor:
    """The dense ``(len(rows), n_items)`` float32 block of ``counts[rows]``, built on ``device``.

    On the CPU, scipy densifies the rows. Elsewhere only the non-zeros travel (their columns
    and values, a few MB) and the block is filled on the device: copying the dense block would
    move ``users x n_items`` floats from the host every batch (64 MB per 600 users at ML-20M's
    26,744 items). The two give the same numbers (the non-zeros are written into zeros);
    ``on_host`` chooses the path (default: scipy on the CPU only).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if device.type == "cpu" if on_host is None else on_host:
        return torch.from_numpy(counts[rows].toarray())
    starts, stops = counts.indptr[rows], counts.indptr[rows + 1]
    lengths = (stops - starts).astype(np.int64)
    total = int(lengths.sum())
    # positions of every non-zero of the selected rows in the CSR arrays, row by row
    src = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    src = src + np.arange(total, dtype=np.int64)
    dst = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    block = torch.zeros((len(rows), counts.shape[1]), dtype=torch.float32, device=device)
    if total:
        cols = torch.from_numpy(counts.indices[src].astype(np.int64)).to(device)
        vals = torch.from_numpy(counts.data[src].astype(np.float32)).to(device)
        block[torch.from_numpy(dst).to(device), cols] = vals
    return block
