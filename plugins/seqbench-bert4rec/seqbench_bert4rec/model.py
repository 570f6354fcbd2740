"""BERT4Rec: a bidirectional transformer trained with the masked-item (cloze) objective.

Sun, Liu, Wu, Pei, Lin, Ou and Jiang, "BERT4Rec: Sequential Recommendation with Bidirectional
Encoder Representations from Transformer", CIKM 2019.

Model (Section 3 of the paper):

* input: item embedding + learned absolute position embedding, then LayerNorm and dropout
  (as BERT's embedding layer); ids ``1..n_items`` are items, ``0`` is padding and
  ``n_items + 1`` is the ``[mask]`` token;
* ``n_blocks`` post-LayerNorm transformer blocks with *bidirectional* multi-head self-attention
  (every real position attends to every real position; padding is never attended to) and a
  GELU feed-forward layer of width ``4 * hidden``;
* output: ``softmax(GELU(h W + b) E^T + b_o)`` with a LayerNorm after the GELU (the BERT
  prediction head of the official code), ``E`` the input item embeddings (tied) and ``b_o`` a
  per-item bias; the softmax runs over the full catalogue (never over the padding or mask ids).

Training (Section 3.6): every training sequence (its last ``max_len`` items) gets
``max(1, round(mask_prob * length))`` positions, drawn uniformly without replacement, replaced
by ``[mask]`` (the official code's fixed per-sequence count, which never wastes a sequence
with no masked item); the loss is the cross-entropy of the original items at the masked
positions over the whole catalogue. A fraction ``last_item_prob`` of the sequences instead
gets only its last item masked: the paper adds such samples so that training also looks like
the prediction task.

Prediction: the user's last ``max_len - 1`` items followed by ``[mask]``; the scores of every
item are the logits at the ``[mask]`` position.

Sequences are right-padded and positions count from the oldest kept item, as in BERT, so a
user's scores never depend on the other sequences in the batch.

Differences from the paper, all on the optimisation side and all configurable: epochs with
early stopping on validation NDCG@10 (the shared seqrec_bench trainer) instead of a fixed
400k steps; learning rate 1e-3 instead of 1e-4 with linear decay (the fixed-budget schedule
does not apply to early stopping); AdamW with decoupled weight decay 0.01 on all parameters
(the paper's optimiser exempts LayerNorm and biases); batches of 64 sequences instead of 256.

The batch size and the long patience (50 epochs) are there because of how the cloze objective
learns: validation NDCG@10 first sits at the popularity level for a long stretch of updates,
then rises steadily. On seqrec_bench's ``synthetic`` data set of generator version 2 (2,000 users, 500 items) it
stayed at 0.06-0.07 for about 1,000 updates (32 epochs of batch 64; a learning rate of 3e-3
did not shorten it) and then climbed past 0.16 by epoch 50. Early stopping with a short
patience, or few updates per epoch, would stop BERT4Rec on that plateau and report popularity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from seqrec_bench.data import Sequences
from seqrec_bench.models import TorchSequenceModel
from seqrec_bench.models.space import Param
from seqrec_bench.seeding import torch_generator
from seqrec_bench.training import (
    SequenceBatch,
    SequenceBatches,
    TrainerConfig,
    full_softmax_loss,
)
from torch import nn

__all__ = ["BERT4RecModel", "BERT4RecConfig", "BERT4RecModule"]


@dataclass(frozen=True)
class BERT4RecConfig(TrainerConfig):
    """Hyper-parameters of :class:`BERT4RecModel` (plus the shared trainer fields).

    The class defaults are the short-history setting (Amazon-like); see
    :meth:`BERT4RecModel.default_config` for MovieLens-like data.

    Attributes:
        max_len: number of positions the model reads (the paper's N): training uses each
            user's last ``max_len`` items, prediction the last ``max_len - 1`` plus ``[mask]``.
        hidden: embedding and hidden size (the paper's d = 64).
        n_blocks: transformer blocks (the paper's L = 2).
        n_heads: attention heads (the paper's h = 2; must divide ``hidden``).
        ffn_dim: inner size of the feed-forward layers; ``None`` = ``4 * hidden`` (the paper).
        dropout: dropout on embeddings, attention output and feed-forward output (the paper
            uses 0.1; 0.2 regularises the sparse short-history data sets more).
        attn_dropout: dropout on the attention weights; ``None`` = ``dropout``.
        mask_prob: share of each training sequence replaced by ``[mask]`` (the paper's rho:
            0.2 on MovieLens, 0.6 on Beauty, 0.4 on Steam).
        last_item_prob: share of training sequences that get only their last item masked.
        init_std: standard deviation of the normal initialisation (0.02, as BERT).
    """

    max_len: int = 50
    hidden: int = 64
    n_blocks: int = 2
    n_heads: int = 2
    ffn_dim: int | None = None
    dropout: float = 0.2
    attn_dropout: float | None = None
    mask_prob: float = 0.2
    last_item_prob: float = 0.1
    init_std: float = 0.02
    # trainer settings that differ from the shared defaults (see the module docstring)
    optimizer: Literal["adam", "adamw"] = "adamw"
    weight_decay: float = 0.01
    batch_size: int = 64
    max_epochs: int = 300
    patience: int = 50

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_len < 2:
            raise ValueError("max_len must be >= 2 (at least one item plus the [mask] token)")
        if self.hidden < 1 or self.n_heads < 1 or self.n_blocks < 0:
            raise ValueError("hidden and n_heads must be >= 1 and n_blocks >= 0")
        if self.hidden % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide hidden ({self.hidden})")
        if self.ffn_dim is not None and self.ffn_dim < 1:
            raise ValueError("ffn_dim must be >= 1 (or None for 4 * hidden)")
        for name in ("dropout", "attn_dropout"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must lie in [0, 1)")
        if not 0.0 < self.mask_prob <= 1.0:
            raise ValueError("mask_prob must lie in (0, 1]")
        if not 0.0 <= self.last_item_prob <= 1.0:
            raise ValueError("last_item_prob must lie in [0, 1]")
        if not self.init_std > 0:
            raise ValueError("init_std must be > 0")


class _Block(nn.Module):
    """One post-LayerNorm transformer block with bidirectional attention (as BERT)."""

    def __init__(self, cfg: BERT4RecConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.attn_dropout = cfg.dropout if cfg.attn_dropout is None else cfg.attn_dropout
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden)
        self.proj = nn.Linear(cfg.hidden, cfg.hidden)
        self.norm1 = nn.LayerNorm(cfg.hidden, eps=1e-12)
        ffn = cfg.ffn_dim or 4 * cfg.hidden
        self.ff_in = nn.Linear(cfg.hidden, ffn)
        self.ff_out = nn.Linear(ffn, cfg.hidden)
        self.norm2 = nn.LayerNorm(cfg.hidden, eps=1e-12)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, W, d)``; ``keys``: ``(B, 1, 1, W)`` True where a key may be attended."""
        b, w, d = x.shape
        q, k, v = self.qkv(x).view(b, w, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=keys, dropout_p=self.attn_dropout if self.training else 0.0
        )
        attended = attended.transpose(1, 2).reshape(b, w, d)
        x = self.norm1(x + self.dropout(self.proj(attended)))
        return self.norm2(x + self.dropout(self.ff_out(F.gelu(self.ff_in(x)))))


class BERT4RecModule(nn.Module):
    """The network: embeddings, bidirectional blocks and the tied output head.

    Args:
        n_items: catalogue size; ids ``1..n_items`` are items, 0 is padding and
            ``n_items + 1`` is ``[mask]``.
        cfg: the model configuration.
    """

    def __init__(self, n_items: int, cfg: BERT4RecConfig) -> None:
        super().__init__()
        self.n_items = n_items
        self.mask_token = n_items + 1
        self.items = nn.Embedding(n_items + 2, cfg.hidden, padding_idx=0)
        self.positions = nn.Embedding(cfg.max_len, cfg.hidden)
        self.embed_norm = nn.LayerNorm(cfg.hidden, eps=1e-12)
        self.dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_blocks))
        self.head = nn.Linear(cfg.hidden, cfg.hidden)
        self.head_norm = nn.LayerNorm(cfg.hidden, eps=1e-12)
        self.output_bias = nn.Parameter(torch.zeros(n_items))
        self._init(cfg.init_std)

    def _init(self, std: float) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                # BERT's truncated normal: values beyond two standard deviations are redrawn
                nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(B, W, d)`` of right-padded ``(B, W)`` ids (W <= max_len)."""
        positions = torch.arange(items.shape[1], device=items.device)
        x = self.dropout(self.embed_norm(self.items(items) + self.positions(positions)))
        real = items != 0
        keys = real[:, None, None, :]
        for block in self.blocks:
            x = block(x, keys)
        return x

    def transform(self, hidden: torch.Tensor) -> torch.Tensor:
        """The prediction head before the item product: ``LayerNorm(GELU(h W + b))``."""
        return self.head_norm(F.gelu(self.head(hidden)))

    def output_weights(self) -> torch.Tensor:
        """``(n_items, d + 1)``: the tied item embeddings with the output bias as last column.

        Paired with a constant 1 appended to the transformed hidden state, one matrix product
        gives ``h E^T + b_o``, so the fused full-softmax loss of the trainer applies unchanged.
        """
        return torch.cat([self.items.weight[1 : self.n_items + 1], self.output_bias[:, None]], 1)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every item ``(N, n_items)`` for hidden states ``(N, d)``."""
        h = self.transform(hidden)
        return h @ self.items.weight[1 : self.n_items + 1].T + self.output_bias


def _with_ones(h: torch.Tensor) -> torch.Tensor:
    return torch.cat([h, torch.ones_like(h[:, :1])], dim=1)


class BERT4RecModel(TorchSequenceModel[BERT4RecConfig]):
    """BERT4Rec: bidirectional self-attention trained to fill in masked items (cloze).

    Defaults for a data set are chosen by its median sequence length (:meth:`default_config`):
    long histories (median length >= 50, MovieLens-like) get the paper's MovieLens setting,
    ``max_len=200`` and ``dropout=0.1``; short ones (Amazon-like) the class defaults,
    ``max_len=50`` (the paper's Beauty/Steam value) and ``dropout=0.2``.

    Example:
        >>> from seqrec_bench.data import Sequences
        >>> train = Sequences.from_lists([[1, 2, 3], [2, 3, 4], [3, 4]], n_items=4)
        >>> model = BERT4RecModel(max_len=4, hidden=8, max_epochs=2).fit(train, seed=0)
        >>> model.score(train).shape
        torch.Size([3, 4])
    """

    name = "bert4rec"
    description = "BERT4Rec: bidirectional transformer trained on masked items (Sun et al. 2019)."
    training_samples = (
        "one window per user of the last max_len training items, a random share masked and "
        "predicted (cloze), redrawn every epoch"
    )
    config_cls = BERT4RecConfig
    # 2: independent init/shuffle/dropout/masking streams (seqrec_bench.seeding)
    # 3: the chunked full-softmax loss of seqrec_bench (the same loss, rounded differently)
    version = 3
    # the paper uses max_len = 200 on MovieLens and 50 on Amazon Beauty and Steam
    long_history_defaults = {"max_len": 200, "dropout": 0.1}
    # what `seqbench tune` searches (a plugin declares its space like a built-in); n_heads stays
    # 2, which divides every hidden size offered
    search_space = {
        "lr": Param.float(1e-4, 1e-2, log=True),
        "hidden": Param.choice(32, 64, 128),
        "n_blocks": Param.int(1, 3),
        "dropout": Param.float(0.0, 0.5),
        "mask_prob": Param.float(0.1, 0.6),
    }
    padding_side = "right"  # positions count from the oldest kept item, as in BERT
    score_chunk = 1024

    module: BERT4RecModule

    def _build_module(self) -> BERT4RecModule:
        return BERT4RecModule(self.n_items, self.config)

    def _make_batches(self, train_seqs: Sequences) -> SequenceBatches:
        # the last max_len items, not max_len + 1: the cloze task predicts masked positions
        return SequenceBatches(
            train_seqs,
            batch_size=self.config.batch_size,
            max_len=self.config.max_len,
            side=self.padding_side,
            min_length=1,  # a single item can still be masked and predicted
            device=self.device,
        )

    def _make_loss(self, train_seqs: Sequences) -> Callable[[SequenceBatch], torch.Tensor]:
        cfg = self.config
        # a generator of its own, so masks do not depend on dropout's draws
        generator = torch_generator(self.seed, "masking", self.device)
        module, mask_token = self.module, self.module.mask_token

        def loss(batch: SequenceBatch) -> torch.Tensor:
            items = batch.items
            masked = _cloze_mask(items, batch.lengths, cfg, generator)
            hidden = module(items.masked_fill(masked, mask_token))
            # the head runs on the masked positions only: the logits are the big tensor
            h = module.transform(hidden[masked])
            return full_softmax_loss(_with_ones(h), module.output_weights(), items[masked])

        return loss

    def _score_chunk(self, part: Sequences) -> torch.Tensor:
        mask_token = self.module.mask_token
        # the last max_len - 1 items, then [mask] where the next item goes
        inputs = part.tail(self.config.max_len - 1).append(
            np.full(part.n_users, mask_token, dtype=np.int64)
        )
        items = inputs.padded_tensor(self.config.max_len, side="right", device=self.device)
        hidden = self.module(items)
        last = torch.from_numpy(inputs.lengths - 1).to(self.device)
        rows = torch.arange(part.n_users, device=self.device)
        return self.module.logits(hidden[rows, last])


def _cloze_mask(
    items: torch.Tensor, lengths: torch.Tensor, cfg: BERT4RecConfig, generator: torch.Generator
) -> torch.Tensor:
    """Which positions of right-padded ``items`` to replace by ``[mask]`` (a bool ``(B, W)``).

    Each row gets ``max(1, round(mask_prob * length))`` distinct real positions, uniformly; with
    probability ``last_item_prob`` a row gets only its last item instead.
    """
    b, w = items.shape
    real = items != 0
    # rank the real positions of each row in a random order; padding sorts last
    noise = torch.rand((b, w), generator=generator, device=items.device)
    noise = noise.masked_fill(~real, 2.0)
    rank = noise.argsort(dim=1).argsort(dim=1)
    count = (lengths.float() * cfg.mask_prob).round().clamp_min(1).to(rank.dtype)
    masked = (rank < count[:, None]) & real
    if cfg.last_item_prob > 0:
        last_only = torch.rand(b, generator=generator, device=items.device) < cfg.last_item_prob
        last = torch.arange(w, device=items.device)[None, :] == (lengths - 1)[:, None]
        masked = torch.where(last_only[:, None], last, masked)
    return masked
