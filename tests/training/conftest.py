"""A tiny torch model for exercising the trainer without a transformer's cost."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from seqrec_bench.data import Sequences
from seqrec_bench.models.base import Model
from seqrec_bench.seeding import stream_seed
from seqrec_bench.training import (
    SequenceBatches,
    TrainerConfig,
    full_softmax_loss,
    seeded,
    select_positions,
    train,
)


@dataclass(frozen=True)
class ToyConfig(TrainerConfig):
    hidden: int = 8
    max_len: int = 8
    dropout: float = 0.1
    poison: bool = False  # put a NaN into a weight before training (non-finite loss tests)


class ToyModule(nn.Module):
    """Embedding -> dropout -> linear: a first-order next-item scorer."""

    def __init__(self, n_items: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.proj = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Parameter(torch.randn(n_items, hidden) * 0.1)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.proj(self.drop(self.emb(items)))


class ToyModel(Model):
    """A model built the way a plugin would build one on the trainer."""

    name = "toy"
    description = "first-order toy model for trainer tests"
    config_cls = ToyConfig

    def __init__(self, config=None, **overrides) -> None:
        super().__init__(config, **overrides)
        self.result = None

    def _fit(self, train_seqs: Sequences, validator) -> None:
        cfg = self.config
        with seeded(stream_seed(self.seed, "init"), self.device):
            self.module = ToyModule(self.n_items, cfg.hidden, cfg.dropout).to(self.device)
        if cfg.poison:
            with torch.no_grad():
                self.module.proj.weight[0, 0] = float("nan")
        batches = SequenceBatches(
            train_seqs, batch_size=cfg.batch_size, max_len=cfg.max_len + 1, device=self.device
        )
        module = self.module

        def loss(batch):
            inputs, targets = batch.items[:, :-1], batch.items[:, 1:]
            real = inputs != 0
            count = batch.n_tokens - batch.size
            h = select_positions(module(inputs), real, count)
            return full_softmax_loss(h, module.out, select_positions(targets, real, count))

        self.result = train(self, module, loss, batches, config=cfg, validator=validator)

    def _score(self, batch: Sequences) -> torch.Tensor:
        last = torch.from_numpy(batch.last(1)).to(self.device)
        return self.module(last) @ self.module.out.T


@pytest.fixture
def toy_model_cls() -> type[ToyModel]:
    return ToyModel
