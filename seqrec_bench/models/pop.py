"""Popularity baseline: every user gets the training-set item counts."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqrec_bench.data.sequences import Sequences
from seqrec_bench.models.base import Model, Validator

__all__ = ["PopularityModel", "PopularityConfig"]


@dataclass(frozen=True)
class PopularityConfig:
    """Popularity has no hyper-parameters."""


class PopularityModel(Model[PopularityConfig]):
    """Scores every item by how often it occurs in the training sequences.

    Only training items count (``s_1 .. s_{n-2}``), so neither validation nor test targets leak
    into the ranking.
    """

    name = "pop"
    description = "Training-set popularity (the same ranking for every user)."
    training_samples = "every training interaction (item counts)"
    config_cls = PopularityConfig

    def _fit(self, train: Sequences, validator: Validator | None) -> None:
        counts = train.item_counts()[1:].astype("float32")
        self._counts = torch.from_numpy(counts).to(self.device)

    def _score(self, batch: Sequences) -> torch.Tensor:
        return self._counts.unsqueeze(0).expand(batch.n_users, -1)
