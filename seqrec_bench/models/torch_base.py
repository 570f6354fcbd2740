"""The shared base of the torch next-item models (transformer, gru and plugins such as BERT4Rec).

:class:`TorchSequenceModel` holds what every torch sequence model repeats: building the network
under the seeded initialisation stream, training it with the shared trainer
(:func:`seqrec_bench.training.train`), scoring users in chunks that bound memory, and the
per-data-set-family defaults (long MovieLens-like histories vs short Amazon-like ones). A
model supplies the network, the loss and the scores of one chunk::

    from dataclasses import dataclass

    import torch
    from seqrec_bench.models import TorchSequenceModel
    from seqrec_bench.training import TrainerConfig, full_softmax_loss, select_positions

    @dataclass(frozen=True)
    class BagConfig(TrainerConfig):          # trainer fields (lr, batch_size, ...) included
        hidden: int = 64
        max_len: int = 50

    class BagNet(torch.nn.Module):           # running mean of the item embeddings so far
        def __init__(self, n_items, hidden):
            super().__init__()
            self.emb = torch.nn.Embedding(n_items + 1, hidden, padding_idx=0)

        def forward(self, items):            # (B, L) left-padded -> (B, L, hidden)
            seen = (items != 0).cumsum(1).clamp_min(1).unsqueeze(-1)
            return self.emb(items).cumsum(1) / seen

    class BagModel(TorchSequenceModel[BagConfig]):
        name = "bag"
        description = "Mean of the embeddings of the items seen so far."
        config_cls = BagConfig
        long_history_defaults = {"max_len": 200}   # median length >= 50

        def _build_module(self):
            return BagNet(self.n_items, self.config.hidden)

        def _make_loss(self, train_seqs):
            module = self.module

            def loss(batch):                 # batch.items: (B, max_len + 1), left-padded
                inputs, targets = batch.items[:, :-1], batch.items[:, 1:]
                real = inputs != 0           # logits only for real positions
                count = batch.n_tokens - batch.size
                hidden = select_positions(module(inputs), real, count)
                return full_softmax_loss(hidden, module.emb.weight[1:],
                                         select_positions(targets, real, count))

            return loss

        def _score_chunk(self, part):        # eval mode and no_grad are already on
            items = part.padded_tensor(self.config.max_len, device=self.device)
            return self.module(items)[:, -1] @ self.module.emb.weight[1:].T

Randomness: the network is built under the run's ``"init"`` stream, the trainer shuffles with
the ``"shuffle"`` stream and runs the loss under the ``"dropout"`` stream; a loss that samples
(negatives, masks) builds its own generator with :func:`seqrec_bench.seeding.torch_generator`
and a purpose of its own (:mod:`seqrec_bench.seeding`).
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import torch
from torch import nn

from seqrec_bench.data.sequences import Sequences
from seqrec_bench.models.base import LONG_HISTORY_MEDIAN, Model, Validator, median_length
from seqrec_bench.seeding import stream_seed
from seqrec_bench.training import (
    BatchFactory,
    SequenceBatch,
    SequenceBatches,
    TrainerConfig,
    TrainResult,
    seeded,
    train,
)
from seqrec_bench.training.compile import COMPILE_WIDTH_MULTIPLE

__all__ = ["TorchSequenceModel"]

#: The config type of a :class:`TorchSequenceModel`: a :class:`TrainerConfig` subclass.
TC = TypeVar("TC", bound=TrainerConfig)


class TorchSequenceModel(Model[TC]):
    """Base of the torch models trained by :func:`~seqrec_bench.training.train`.

    A subclass sets ``name``, ``description``, ``config_cls`` (a frozen dataclass subclassing
    :class:`~seqrec_bench.training.TrainerConfig`) and implements:

    * :meth:`_build_module`: the ``torch.nn.Module`` for ``self.n_items`` and ``self.config``;
    * :meth:`_make_loss`: the per-batch loss, a closure over ``self.module``;
    * :meth:`_score_chunk`: the scores of at most :attr:`score_chunk` users.

    and may override :meth:`_make_batches` (default: each user's last ``max_len + 1`` training
    items, padded on :attr:`padding_side`, bucketed by the config's ``bucket`` field if it has
    one), :attr:`long_history_defaults` and :attr:`score_chunk`.

    Class attributes:
        long_history_defaults: config values that replace the class defaults on data sets with
            long histories (median training length >= ``LONG_HISTORY_MEDIAN``, MovieLens-like);
            :meth:`default_config` applies them.
        padding_side: ``"left"`` or ``"right"``, how :meth:`_make_batches` pads by default.
        score_chunk: users encoded at once when scoring (bounds e.g. attention memory on long
            histories); a user's scores do not depend on it.

    Attributes:
        module: the network, built anew by every :meth:`fit`.
        train_result: what the trainer reported for the last fit.
    """

    long_history_defaults: ClassVar[Mapping[str, Any]] = {}
    padding_side: ClassVar[Literal["left", "right"]] = "left"
    score_chunk: ClassVar[int] = 1024
    #: Row groups of similar lengths that a training batch's network pass is cut into on the
    #: CPU (:meth:`SequenceBatch.length_groups`; the loss stays one over the whole batch), for
    #: models whose loss uses them; 1 elsewhere, where fewer, larger kernels are faster.
    cpu_length_groups: ClassVar[int] = 1
    #: Positions (users x the chunk's width) encoded at once when scoring; ``None`` = chunks of
    #: :attr:`score_chunk` users in the batch's order.
    score_tokens: ClassVar[int | None] = None
    #: What the default :meth:`_make_batches` does; a model that overrides it says what it does.
    training_samples: ClassVar[str] = (
        "one window per user of the last max_len + 1 training items, a next-item loss at every "
        "position"
    )

    module: nn.Module
    train_result: TrainResult | None = None

    # -- per-data-set defaults ------------------------------------------------------------------
    @classmethod
    def default_config(cls, dataset_stats: dict[str, Any] | None = None) -> Any:
        """The class defaults, with :attr:`long_history_defaults` on long-history data sets.

        The family is chosen by the median training-sequence length (``dataset_stats["length"]
        ["median"]``, see :func:`~seqrec_bench.models.base.median_length`); missing or
        malformed statistics give the class defaults.
        """
        config = cls.config_cls()
        median = median_length(dataset_stats)
        if median is not None and median >= LONG_HISTORY_MEDIAN and cls.long_history_defaults:
            return dataclasses.replace(config, **cls.long_history_defaults)
        return config

    # -- what a subclass implements -------------------------------------------------------------
    @abstractmethod
    def _build_module(self) -> nn.Module:
        """A fresh network for ``self.n_items`` items and ``self.config``.

        Called under the seeded ``"init"`` stream (draw initial weights from torch's global
        RNG, e.g. ``nn.init.normal_``); the base class moves it to ``self.device``.
        """

    @abstractmethod
    def _make_loss(self, train_seqs: Sequences) -> Callable[[SequenceBatch], torch.Tensor]:
        """The per-batch training loss (a scalar tensor), usually a closure over ``self.module``.

        Called once per fit, after :meth:`_build_module`.
        """

    @abstractmethod
    def _score_chunk(self, part: Sequences) -> torch.Tensor:
        """Scores ``(len(part), n_items)`` of at most :attr:`score_chunk` users.

        Runs with ``self.module`` in eval mode and under ``torch.no_grad()``.
        """

    def _make_batches(self, train_seqs: Sequences) -> BatchFactory:
        """The trainer's batch factory; the default suits next-item training.

        Each batch holds users' last ``max_len + 1`` training items (inputs and their next
        items), padded on :attr:`padding_side`, in length-bucketed pools when the config has a
        ``bucket`` field.
        """
        cfg = self.config
        max_len = getattr(cfg, "max_len", None)
        if not isinstance(max_len, int):
            raise TypeError(
                f"{type(self).__name__}: the default _make_batches reads config.max_len; "
                "add that field or override _make_batches"
            )
        return SequenceBatches(
            train_seqs,
            batch_size=cfg.batch_size,
            max_len=max_len + 1,
            side=self.padding_side,
            device=self.device,
            bucket=int(getattr(cfg, "bucket", 0)),
            width_multiple=COMPILE_WIDTH_MULTIPLE if getattr(cfg, "compile", False) else 1,
        )

    def _length_groups(self) -> int:
        """Length groups per training batch on this model's device (see ``cpu_length_groups``)."""
        return self.cpu_length_groups if torch.device(self.device).type == "cpu" else 1

    # -- the Model contract ---------------------------------------------------------------------
    def _fit(self, train_seqs: Sequences, validator: Validator | None) -> None:
        with seeded(stream_seed(self.seed, "init"), self.device):
            self.module = self._build_module().to(self.device)
        batches = self._make_batches(train_seqs)
        loss = self._make_loss(train_seqs)
        self.train_result = train(
            self, self.module, loss, batches, config=self.config, validator=validator
        )

    def _score(self, batch: Sequences) -> torch.Tensor:
        self.module.eval()
        if batch.n_users == 0:
            return torch.zeros((0, self.n_items), device=self.device)
        chunks, order = self._score_chunks(batch)
        part = batch if order is None else batch.select(order)
        out = [self._score_chunk(part.select(slice(lo, hi))) for lo, hi in chunks]
        # one chunk (the usual case): no copy of the (users, n_items) scores
        scores = out[0].float() if len(out) == 1 else torch.cat(out).float()
        if order is None:
            return scores
        inverse = torch.from_numpy(np.argsort(order)).to(scores.device)
        return scores.index_select(0, inverse)

    def _score_chunks(self, batch: Sequences) -> tuple[list[tuple[int, int]], np.ndarray | None]:
        """Row ranges of at most :attr:`score_chunk` users and :attr:`score_tokens` positions.

        With a token budget, users are taken in order of their (``max_len``-capped) length, so
        that a chunk is as wide as its own longest user: short users are not padded to the
        longest one of the batch. Returns the ranges and the order (``None`` when the batch is
        already in length order, as the evaluator's blocks are).
        """
        n = batch.n_users
        budget = self.score_tokens
        if budget is None:
            return [
                (lo, min(n, lo + self.score_chunk)) for lo in range(0, n, self.score_chunk)
            ], None
        cap = getattr(self.config, "max_len", None)
        lengths = batch.lengths if not isinstance(cap, int) else np.minimum(batch.lengths, cap)
        order: np.ndarray | None = None
        if len(lengths) > 1 and bool((np.diff(lengths) < 0).any()):
            order = np.argsort(lengths, kind="stable")
            lengths = lengths[order]
        width = np.maximum(lengths, 1)
        chunks, lo = [], 0
        while lo < n:
            # the widest user of a chunk is its last (lengths ascend): grow while it fits
            ahead = width[lo : lo + self.score_chunk]
            fits = int(np.searchsorted(ahead * np.arange(1, len(ahead) + 1), budget, side="right"))
            hi = lo + max(1, fits)
            chunks.append((lo, hi))
            lo = hi
        return chunks, order
