"""SASRec-style causal transformer for next-item prediction.

The model reads a user's most recent ``max_len`` items (left-padded, most recent last), adds a
learned embedding of each item's *recency* (position counted from the end, so the same item at
the same distance from "now" gets the same position whatever the padding), runs ``n_blocks``
causal self-attention blocks and scores every item by the dot product of the last hidden state
with the (by default tied) item embeddings.

Training predicts the next item at every position of each user's last ``max_len + 1`` training
items. Logits are computed only for real (non-padding) positions, which matters for short
sequences where most of a padded batch is padding. Three losses:

* ``ce``: softmax over the whole catalogue (SASRec+ of Klenitskiy & Vasilev, RecSys 2023);
* ``bce``: one uniformly drawn negative per position (the original SASRec, Kang & McAuley 2018);
* ``sampled``: softmax over ``n_negatives`` items shared by the batch, with optional logQ
  correction for popularity sampling.

Masks: position ``i`` attends to positions ``j <= i`` that are real items, and always to itself.
The "itself" part keeps padded rows (which, with left padding and a causal mask, would see
nothing and turn into NaN) finite; real positions never attend to padding, and padding rows are
never read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqrec_bench.data.sequences import Sequences
from seqrec_bench.models.space import Param
from seqrec_bench.models.torch_base import TorchSequenceModel
from seqrec_bench.seeding import torch_generator
from seqrec_bench.training import (
    SequenceBatch,
    TrainerConfig,
    bce_loss,
    full_softmax_loss,
    sample_negatives,
    sampled_softmax_loss,
    select_positions,
)
from seqrec_bench.training.batches import grouped_positions
from seqrec_bench.training.dropout import Dropout, dropout

__all__ = ["TransformerModel", "TransformerConfig", "SASRecModule"]


@dataclass(frozen=True)
class TransformerConfig(TrainerConfig):
    """Hyper-parameters of :class:`TransformerModel` (plus the shared trainer fields).

    The class defaults are the short-history (Amazon-like) setting; see
    :meth:`TransformerModel.default_config` for the per-data-set defaults.

    Attributes:
        max_len: number of most recent items the model reads.
        hidden: embedding and hidden size.
        n_blocks: transformer blocks.
        n_heads: attention heads (must divide ``hidden``).
        ffn_dim: inner size of the feed-forward sub-layer; ``None`` = ``hidden`` (as SASRec).
        dropout: dropout on embeddings, attention output and feed-forward layers.
        attn_dropout: dropout on the attention weights; ``None`` = ``dropout``.
        norm: ``"pre"`` (LayerNorm before each sub-layer, plus a final one) or ``"post"``
            (after each residual sum, as in the original Transformer). Every sub-layer has its
            own LayerNorm.
        activation: feed-forward non-linearity.
        scale_embeddings: multiply item embeddings by ``sqrt(hidden)`` before adding positions
            (as SASRec does).
        tie_embeddings: score items with the input item embeddings (else a separate table).
        loss: ``"ce"``, ``"bce"`` or ``"sampled"`` (see the module docstring).
        n_negatives: negatives per batch for ``loss="sampled"``.
        negative_sampler: ``"uniform"`` or ``"popularity"`` (training frequency) negatives for
            ``loss="sampled"``.
        logq_correction: subtract the log sampling probability from the sampled logits.
        bucket: length bucketing of training batches (pools of ``bucket`` batches sorted by
            length; 0 = plain shuffling).
        init_std: standard deviation of the normal initialisation of embeddings and linears.
    """

    max_len: int = 50
    hidden: int = 64
    n_blocks: int = 2
    n_heads: int = 1
    ffn_dim: int | None = None
    dropout: float = 0.2
    attn_dropout: float | None = None
    norm: Literal["pre", "post"] = "pre"
    activation: Literal["relu", "gelu"] = "relu"
    scale_embeddings: bool = True
    tie_embeddings: bool = True
    loss: Literal["ce", "bce", "sampled"] = "ce"
    n_negatives: int = 256
    negative_sampler: Literal["uniform", "popularity"] = "uniform"
    logq_correction: bool = True
    bucket: int = 0
    init_std: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_len < 1 or self.hidden < 1 or self.n_blocks < 0 or self.n_heads < 1:
            raise ValueError("max_len, hidden, n_heads must be >= 1 and n_blocks >= 0")
        if self.hidden % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide hidden ({self.hidden})")
        for name in ("dropout", "attn_dropout"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must lie in [0, 1)")
        if self.norm not in ("pre", "post"):
            raise ValueError("norm must be 'pre' or 'post'")
        if self.activation not in ("relu", "gelu"):
            raise ValueError("activation must be 'relu' or 'gelu'")
        if self.loss not in ("ce", "bce", "sampled"):
            raise ValueError("loss must be 'ce', 'bce' or 'sampled'")
        if self.negative_sampler not in ("uniform", "popularity"):
            raise ValueError("negative_sampler must be 'uniform' or 'popularity'")
        if self.n_negatives < 1:
            raise ValueError("n_negatives must be >= 1")


def _cpu_attention_with_dropout(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, p: float
) -> torch.Tensor:
    """Causal attention with dropout on its weights, for training on the CPU.

    What ``F.scaled_dot_product_attention(..., dropout_p=p)`` computes (its CPU kernels fall
    back to the reference path whenever dropout is on), written out so that the weights' mask
    is drawn by :func:`~seqrec_bench.training.dropout.dropout` (16 bits per element instead of
    one ``bernoulli_`` call each: the largest cost of a CPU epoch before) and the softmax needs
    no guard for fully masked rows (every row attends at least to itself).
    """
    length = q.shape[-2]
    if mask is None:
        mask = torch.ones(length, length, dtype=torch.bool, device=q.device).tril()
    scores = (q * (q.shape[-1] ** -0.5)) @ k.transpose(-2, -1)
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return dropout(weights, p) @ v


class _Block(nn.Module):
    """Causal self-attention + feed-forward, each with its own LayerNorm."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        d = cfg.hidden
        self.n_heads = cfg.n_heads
        self.pre = cfg.norm == "pre"
        self.attn_dropout = cfg.dropout if cfg.attn_dropout is None else cfg.attn_dropout
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ffn = nn.Sequential(
            nn.Linear(d, cfg.ffn_dim or d),
            nn.ReLU() if cfg.activation == "relu" else nn.GELU(),
            Dropout(cfg.dropout),
            nn.Linear(cfg.ffn_dim or d, d),
        )
        self.norm_attn = nn.LayerNorm(d)
        self.norm_ffn = nn.LayerNorm(d)
        self.dropout = Dropout(cfg.dropout)

    def _attention(
        self, x: torch.Tensor, mask: torch.Tensor | None, last_only: bool
    ) -> torch.Tensor:
        b, length, d = x.shape
        h = self.n_heads
        if last_only:
            # scoring reads only the last position: one query row instead of L
            w_q, w_kv = self.qkv.weight.split([d, 2 * d])
            b_q, b_kv = self.qkv.bias.split([d, 2 * d])
            q = F.linear(x[:, -1:], w_q, b_q).view(b, 1, 1, h, d // h).permute(2, 0, 3, 1, 4)[0]
            k, v = F.linear(x, w_kv, b_kv).view(b, length, 2, h, d // h).permute(2, 0, 3, 1, 4)
            # the last query sees every key of a batch without padding: no mask at all
            mask = None if mask is None else mask[:, :, -1:]
            causal = False
            length = 1
        else:
            q, k, v = self.qkv(x).view(b, length, 3, h, d // h).permute(2, 0, 3, 1, 4)
            causal = mask is None
        if self.training and self.attn_dropout > 0.0 and x.device.type == "cpu":
            out = _cpu_attention_with_dropout(q, k, v, mask, self.attn_dropout)
            return self.dropout(self.out(out.transpose(1, 2).reshape(b, length, d)))
        # a batch without padding is plainly causal: is_causal instead of a (B, 1, L, L) mask
        # is what lets SDPA choose its flash kernel on CUDA (same result, up to rounding)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.attn_dropout if self.training else 0.0,
            is_causal=causal,
        )
        return self.dropout(self.out(out.transpose(1, 2).reshape(b, length, d)))

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, last_only: bool = False
    ) -> torch.Tensor:
        """``(B, L, d)`` -> ``(B, L, d)``, or ``(B, 1, d)`` for the last position only.

        ``mask`` is ``(B, 1, L, L)`` (True = attend), or ``None`` for a batch without padding
        (plain causal attention).
        """
        residual = x[:, -1:] if last_only else x
        if self.pre:
            x = residual + self._attention(self.norm_attn(x), mask, last_only)
            return x + self.dropout(self.ffn(self.norm_ffn(x)))
        x = self.norm_attn(residual + self._attention(x, mask, last_only))
        return self.norm_ffn(x + self.dropout(self.ffn(x)))


class SASRecModule(nn.Module):
    """The network of :class:`TransformerModel`: ``(B, L)`` left-padded ids -> ``(B, L, d)``.

    Args:
        n_items: catalogue size (ids ``1..n_items``; 0 is padding).
        cfg: the model configuration.
    """

    def __init__(self, n_items: int, cfg: TransformerConfig) -> None:
        super().__init__()
        d = cfg.hidden
        self.max_len = cfg.max_len
        self.scale = math.sqrt(d) if cfg.scale_embeddings else 1.0
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.pos_emb = nn.Embedding(cfg.max_len, d)
        self.emb_dropout = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_blocks))
        # pre-LN leaves the residual stream un-normalised: normalise once at the end
        self.final_norm = nn.LayerNorm(d) if cfg.norm == "pre" else nn.Identity()
        self.out_emb = None if cfg.tie_embeddings else nn.Embedding(n_items + 1, d, padding_idx=0)
        self._init(cfg.init_std)

    def _init(self, std: float) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=std)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
            if self.out_emb is not None:
                self.out_emb.weight[0].zero_()

    def item_weights(self) -> torch.Tensor:
        """``(n_items, d)`` output embeddings; row ``j`` scores item ``j + 1``."""
        table = self.item_emb if self.out_emb is None else self.out_emb
        return table.weight[1:]

    def forward(
        self, items: torch.Tensor, last_only: bool = False, dense: bool = False
    ) -> torch.Tensor:
        """Hidden states of ``items`` (``(B, L)`` ids, left-padded, ``L <= max_len``).

        Returns ``(B, L, d)``, or ``(B, d)`` for the last position when ``last_only`` (the
        final block then computes that one position: what scoring needs). ``dense=True``
        promises that no row has padding (the caller knows it from the lengths on the host; a
        device check would stall a CUDA stream): attention then runs as plain causal attention
        without a mask.
        """
        b, length = items.shape
        if length > self.max_len:
            raise ValueError(f"sequences of {length} items exceed max_len={self.max_len}")
        real = items != 0
        # recency positions: the last column is position max_len - 1 whatever the batch width,
        # so left padding never shifts a real item's position
        positions = torch.arange(self.max_len - length, self.max_len, device=items.device)
        x = self.item_emb(items) * self.scale + self.pos_emb(positions)
        x = self.emb_dropout(x) * real.unsqueeze(-1)
        mask: torch.Tensor | None = None
        if not dense:
            causal = torch.ones(length, length, dtype=torch.bool, device=items.device).tril()
            eye = torch.eye(length, dtype=torch.bool, device=items.device)
            mask = (causal & (real.unsqueeze(1) | eye)).unsqueeze(1)  # (B, 1, L, L): attend
        if last_only and not self.blocks:
            x = x[:, -1:]
        for i, block in enumerate(self.blocks):
            x = block(x, mask, last_only and i == len(self.blocks) - 1)
        x = self.final_norm(x)
        return x[:, -1] if last_only else x


class TransformerModel(TorchSequenceModel[TransformerConfig]):
    """SASRec-style transformer (see the module docstring for the architecture and losses).

    Defaults for a data set are chosen by its median sequence length (:meth:`default_config`):

    * long histories (median length >= 50, MovieLens-like): the SASRec+ setting of Klenitskiy
      & Vasilev (RecSys 2023): ``max_len=200, hidden=64, n_blocks=2, n_heads=1,
      dropout=0.1, batch_size=128, lr=1e-3, max_epochs=100, patience=10, loss="ce"``;
    * otherwise (Amazon-like short histories): the class defaults, ``max_len=50`` with the
      other values chosen on Amazon Beauty's *validation* split
      (``benchmarks/reproduce_beauty.py`` documents the search).

    Example:
        >>> from seqrec_bench.data import Sequences
        >>> train = Sequences.from_lists([[1, 2, 3, 4], [2, 3, 4, 1]] * 8, n_items=4)
        >>> model = TransformerModel(max_len=4, hidden=8, max_epochs=2).fit(train, seed=0)
        >>> model.score(train.select(slice(0, 2))).shape
        torch.Size([2, 4])
    """

    name = "transformer"
    description = "SASRec-style causal transformer, full-softmax (CE) next-item loss by default."
    config_cls = TransformerConfig
    # 2: independent init/shuffle/dropout/negatives streams (seqrec_bench.seeding)
    # 3: the chunked full-softmax loss, and plain causal attention for batches without padding
    # (the same functions, rounded differently)
    # 4: dropout masks drawn 16 bits at a time on the CPU (training.dropout), the network run
    # on length groups of each batch on the CPU, jittered and weighted length buckets
    version = 4
    long_history_defaults = {
        "max_len": 200,
        "hidden": 64,
        "n_blocks": 2,
        "n_heads": 1,
        "dropout": 0.1,
        "attn_dropout": None,
        "batch_size": 128,
        "lr": 1e-3,
        "max_epochs": 100,
        "patience": 10,
        "loss": "ce",
    }
    # what `seqbench tune` searches: the usual SASRec knobs over ranges wide enough for
    # short and long histories alike (the loss stays the full-softmax CE of the defaults)
    search_space = {
        "lr": Param.float(1e-4, 1e-2, log=True),
        "hidden": Param.choice(32, 64, 128),
        "n_blocks": Param.int(1, 3),
        "n_heads": Param.choice(1, 2),
        "dropout": Param.float(0.0, 0.5),
        "weight_decay": Param.choice(0.0, 1e-5, 1e-4),
    }
    padding_side = "left"
    cpu_length_groups = 4
    # chunks bound the (users x L x L) attention memory on long histories
    score_chunk = 1024
    # and chunks of similar lengths (each only as wide as its longest user) keep the quadratic
    # attention of short users small
    score_tokens = 1 << 16

    module: SASRecModule

    def _build_module(self) -> SASRecModule:
        return SASRecModule(self.n_items, self.config)

    def _make_loss(self, train_seqs: Sequences) -> Callable[[SequenceBatch], torch.Tensor]:
        """The per-batch loss of ``config.loss``, a closure over the module and a sampler."""
        cfg = self.config
        module, device, n_items = self.module, torch.device(self.device), self.n_items
        generator = torch_generator(self.seed, "negatives", device)
        probs = log_q = None
        if cfg.loss == "sampled" and cfg.negative_sampler == "popularity":
            counts = torch.from_numpy(train_seqs.item_counts()[1:]).double() + 1.0
            probs = (counts / counts.sum()).float().to(device)
            log_q = probs.log() if cfg.logq_correction else None
        elif cfg.loss == "sampled" and cfg.logq_correction:
            log_q = None  # uniform sampling: the correction is a constant and cancels

        groups = self._length_groups()

        def positions(part: SequenceBatch) -> tuple[torch.Tensor, torch.Tensor]:
            inputs, targets = part.items[:, :-1], part.items[:, 1:]
            # every row full (known from the host-side token count): no padding to mask
            hidden = module(inputs, dense=part.n_tokens == part.items.numel())
            real = inputs != 0  # left padding: a real input always has a real next item
            count = part.n_tokens - part.size
            return select_positions(hidden, real, count), select_positions(targets, real, count)

        def loss(batch: SequenceBatch) -> torch.Tensor:
            h, t = grouped_positions(batch, groups, positions)
            weights = module.item_weights()
            if cfg.loss == "ce":
                value = full_softmax_loss(h, weights, t)
            elif cfg.loss == "bce":
                neg = sample_negatives(len(t), n_items, generator=generator, device=device)
                value = bce_loss(h, weights, t, neg)
            else:
                neg = sample_negatives(
                    cfg.n_negatives,
                    n_items,
                    generator=generator,
                    device=device,
                    probabilities=probs,
                )
                value = sampled_softmax_loss(h, weights, t, neg, log_q)
            # length-bucketed batches: every target of the epoch weighs the same
            return value if batch.weight == 1.0 else value * batch.weight

        return loss

    def _score_chunk(self, part: Sequences) -> torch.Tensor:
        items = part.padded_tensor(self.config.max_len, side="left", device=self.device)
        kept = part.lengths.clip(max=self.config.max_len)
        dense = bool(len(kept)) and int(kept.min()) == items.shape[1]
        return self.module(items, last_only=True, dense=dense) @ self.module.item_weights().T
