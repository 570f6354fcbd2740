"""GRU4Rec-style recurrent next-item model.

Item embeddings feed a (multi-layer) GRU; the hidden state at each step scores every item by a
dot product with the item embeddings (tied, as in the SASRec+/GRU4Rec comparisons of
Klenitskiy & Vasilev 2023). Training is full-softmax cross-entropy at every position of each
user's last ``max_len + 1`` training items, through the shared trainer.

Sequences are *right*-padded here: a recurrent network reads left to right, so trailing padding
never reaches a real step, and the state of a user is read at its own last item. (Left padding
would run the GRU's biases over the padding and change the state a user starts from.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from seqrec_bench.data.sequences import Sequences
from seqrec_bench.models.space import Param
from seqrec_bench.models.torch_base import TorchSequenceModel
from seqrec_bench.training import (
    SequenceBatch,
    TrainerConfig,
    full_softmax_loss,
    select_positions,
)
from seqrec_bench.training.batches import grouped_positions
from seqrec_bench.training.dropout import Dropout
from seqrec_bench.training.precision import autocast_disabled

__all__ = ["GRUModel", "GRUConfig", "GRUModule"]


@dataclass(frozen=True)
class GRUConfig(TrainerConfig):
    """Hyper-parameters of :class:`GRUModel` (plus the shared trainer fields).

    Attributes:
        max_len: number of most recent items the model reads (and trains on).
        hidden: embedding size and GRU state size.
        n_layers: stacked GRU layers.
        dropout: dropout on the item embeddings, between GRU layers and on the outputs.
        bucket: length bucketing of training batches (pools of ``bucket`` batches sorted by
            length; 0 = plain shuffling).
        init_std: standard deviation of the normal initialisation of the item embeddings. They
            are both the GRU's input and the output scorer, so tiny ones (0.02, the
            transformer's value, which scales its inputs by ``sqrt(hidden)``) leave every score
            near zero and the GRU on a plateau for its first 20-30 epochs; 0.1 learns faster
            and ends higher on validation (``results/quality.md``).
    """

    max_len: int = 50
    hidden: int = 64
    n_layers: int = 1
    dropout: float = 0.2
    bucket: int = 0
    init_std: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_len < 1 or self.hidden < 1 or self.n_layers < 1:
            raise ValueError("max_len, hidden and n_layers must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must lie in [0, 1)")


class GRUModule(nn.Module):
    """``(B, L)`` right-padded item ids -> ``(B, L, hidden)`` GRU outputs."""

    def __init__(self, n_items: int, cfg: GRUConfig) -> None:
        super().__init__()
        self.item_emb = nn.Embedding(n_items + 1, cfg.hidden, padding_idx=0)
        self.emb_dropout = Dropout(cfg.dropout)
        self.gru = nn.GRU(
            cfg.hidden,
            cfg.hidden,
            num_layers=cfg.n_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.n_layers > 1 else 0.0,
        )
        self.out_dropout = Dropout(cfg.dropout)
        nn.init.normal_(self.item_emb.weight, std=cfg.init_std)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def item_weights(self) -> torch.Tensor:
        """``(n_items, hidden)`` output embeddings (tied); row ``j`` scores item ``j + 1``."""
        return self.item_emb.weight[1:]

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` item ids -> ``(B, L, hidden)`` outputs, the recurrence in fp32.

        Autocast's wrapper for cuDNN RNNs casts to fp16 whatever dtype was asked for (bf16
        included), and an fp16 recurrence over 200 steps loses what the small gradients of a
        full softmax carry. The GRU therefore runs outside autocast, in its parameters' dtype
        (fp32); the output layer and the loss still run under the trainer's autocast.
        """
        x = self.emb_dropout(self.item_emb(items))
        with autocast_disabled(x.device.type):
            out, _ = self.gru(x.to(self.gru.weight_ih_l0.dtype))
        return self.out_dropout(out)


class GRUModel(TorchSequenceModel[GRUConfig]):
    """GRU4Rec-style recurrent model with full-softmax training (see the module docstring).

    Defaults for a data set are chosen by its median sequence length (:meth:`default_config`):

    * long histories (median length >= 50, MovieLens-like): ``max_len=200``, ``dropout=0.1``
      (the transformer's SASRec+ budget: hidden 64, batch 128, lr 1e-3, <= 100 epochs,
      patience 10);
    * otherwise: the class defaults (``max_len=50``), checked on Amazon Beauty's validation
      split.

    Example:
        >>> from seqrec_bench.data import Sequences
        >>> train = Sequences.from_lists([[1, 2, 3, 4], [2, 3, 4, 1]] * 8, n_items=4)
        >>> model = GRUModel(max_len=4, hidden=8, max_epochs=2).fit(train, seed=0)
        >>> model.score(train.select(slice(0, 2))).shape
        torch.Size([2, 4])
    """

    name = "gru"
    description = "GRU4Rec-style recurrent network, full-softmax next-item loss at every step."
    config_cls = GRUConfig
    # 2: independent init/shuffle/dropout streams (seqrec_bench.seeding)
    # 3: the chunked full-softmax loss (the same loss, rounded differently)
    # 4: dropout masks drawn 16 bits at a time on the CPU (training.dropout), the recurrence
    # run on length groups of each batch on the CPU, jittered and weighted length buckets
    version = 4
    long_history_defaults = {"max_len": 200, "dropout": 0.1}
    search_space = {
        "lr": Param.float(1e-4, 1e-2, log=True),
        "hidden": Param.choice(32, 64, 128),
        "n_layers": Param.int(1, 2),
        "dropout": Param.float(0.0, 0.5),
        "weight_decay": Param.choice(0.0, 1e-5, 1e-4),
    }
    padding_side = "right"
    score_chunk = 2048
    cpu_length_groups = 4

    module: GRUModule

    def _build_module(self) -> GRUModule:
        return GRUModule(self.n_items, self.config)

    def _make_loss(self, train_seqs: Sequences) -> Callable[[SequenceBatch], torch.Tensor]:
        module = self.module
        groups = self._length_groups()

        def positions(part: SequenceBatch) -> tuple[torch.Tensor, torch.Tensor]:
            inputs, targets = part.items[:, :-1], part.items[:, 1:]
            hidden = module(inputs)
            real = targets != 0  # right padding: a real target always has a real input before it
            count = part.n_tokens - part.size
            return select_positions(hidden, real, count), select_positions(targets, real, count)

        def loss(batch: SequenceBatch) -> torch.Tensor:
            h, t = grouped_positions(batch, groups, positions)
            value = full_softmax_loss(h, module.item_weights(), t)
            return value if batch.weight == 1.0 else value * batch.weight

        return loss

    def _score_chunk(self, part: Sequences) -> torch.Tensor:
        max_len = self.config.max_len
        items = part.padded_tensor(max_len, side="right", device=self.device)
        lengths = torch.from_numpy(part.lengths.clip(1, max_len)).to(self.device)
        hidden = self.module(items)
        last = hidden[torch.arange(len(lengths), device=self.device), lengths - 1]
        return last @ self.module.item_weights().T
