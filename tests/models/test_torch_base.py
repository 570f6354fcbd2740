"""The shared torch base: seeded build, trainer wiring, chunked scoring, per-family defaults."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from seqrec_bench.data import LeaveOneOutSplit, Sequences
from seqrec_bench.models import GRUModel, TorchSequenceModel, TransformerModel
from seqrec_bench.seeding import stream_seed
from seqrec_bench.testing import ModelContract, cycle_sequences
from seqrec_bench.training import TrainerConfig, full_softmax_loss, select_positions


@dataclass(frozen=True)
class BagConfig(TrainerConfig):
    """A running mean of item embeddings.

    Attributes:
        hidden: embedding size.
        max_len: items read.
    """

    hidden: int = 8
    max_len: int = 6
    max_epochs: int = 2


class BagNet(torch.nn.Module):
    def __init__(self, n_items: int, hidden: int) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.init_seed = torch.initial_seed()  # which stream the weights were drawn from

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        seen = (items != 0).cumsum(1).clamp_min(1).unsqueeze(-1)
        return self.emb(items).cumsum(1) / seen


class BagModel(TorchSequenceModel[BagConfig]):
    name = "bag"
    description = "Mean of the embeddings of the items seen so far."
    config_cls = BagConfig
    long_history_defaults = {"max_len": 20}

    def _build_module(self) -> BagNet:
        return BagNet(self.n_items, self.config.hidden)

    def _make_loss(self, train_seqs):
        module = self.module

        def loss(batch):
            inputs, targets = batch.items[:, :-1], batch.items[:, 1:]
            real = inputs != 0
            count = batch.n_tokens - batch.size
            hidden = select_positions(module(inputs), real, count)
            return full_softmax_loss(
                hidden, module.emb.weight[1:], select_positions(targets, real, count)
            )

        return loss

    def _score_chunk(self, part):
        items = part.padded_tensor(self.config.max_len, device=self.device)
        return self.module(items)[:, -1] @ self.module.emb.weight[1:].T


class TestBagContract(ModelContract):
    """A minimal TorchSequenceModel subclass passes the whole contract."""

    model_cls = BagModel

    def test_a_subclass_can_use_the_fitted_fixture(self, fitted):
        model, split = fitted
        assert model.is_fitted and fitted == self.fitted_model()  # the one cached fit


@pytest.fixture(scope="module")
def split() -> LeaveOneOutSplit:
    return LeaveOneOutSplit.from_sequences(cycle_sequences(seed=3))


def test_the_module_is_built_under_the_init_stream(split):
    model = BagModel().fit(split.train, seed=4)
    assert model.module.init_seed == stream_seed(4, "init")
    assert model.train_result is not None and model.train_result.epochs == 2


def test_scores_do_not_depend_on_the_chunk_size(split, monkeypatch):
    model = BagModel().fit(split.train, seed=0)
    whole = model.score(split.test_inputs)
    monkeypatch.setattr(BagModel, "score_chunk", 3)
    calls = []
    original = BagModel._score_chunk
    monkeypatch.setattr(
        BagModel,
        "_score_chunk",
        lambda self, part: calls.append(part.n_users) or original(self, part),
    )
    torch.testing.assert_close(model.score(split.test_inputs), whole)
    assert max(calls) == 3 and sum(calls) == split.n_users
    assert model.score(split.test_inputs.select(slice(0, 0))).shape == (0, split.n_items)


def test_a_token_budget_scores_similar_lengths_together_in_the_callers_order(monkeypatch):
    # users of very different lengths, out of order: each chunk must hold at most
    # score_tokens positions (users x its widest user), and rows come back in input order
    rng = np.random.default_rng(0)
    lengths = rng.permutation(np.r_[np.full(20, 2), np.full(20, 9), np.full(5, 30)])
    seqs = Sequences.from_lengths(rng.integers(1, 12, size=lengths.sum()), lengths, 11)
    model = TransformerModel(**{"max_len": 20, "hidden": 8, "n_heads": 2}, max_epochs=1)
    model.fit(seqs, seed=0)
    monkeypatch.setattr(TransformerModel, "score_tokens", None)
    whole = model.score(seqs)
    monkeypatch.setattr(TransformerModel, "score_tokens", 100)
    widths = []
    original = TransformerModel._score_chunk
    monkeypatch.setattr(
        TransformerModel,
        "_score_chunk",
        lambda self, part: (
            widths.append((part.n_users, int(part.lengths.max()))) or original(self, part)
        ),
    )
    torch.testing.assert_close(model.score(seqs), whole, rtol=1e-5, atol=1e-5)
    assert sum(n for n, _ in widths) == seqs.n_users
    assert all(n * min(w, 20) <= 100 for n, w in widths)
    assert len(widths) < seqs.n_users  # the short users share chunks
    # one user wider than the budget still gets a chunk of its own
    monkeypatch.setattr(TransformerModel, "score_tokens", 10)
    widths.clear()
    torch.testing.assert_close(model.score(seqs), whole, rtol=1e-5, atol=1e-5)
    assert all(n == 1 for n, w in widths if w >= 10)


def test_long_history_defaults_apply_by_median_length():
    assert BagModel.default_config(None) == BagConfig()
    assert BagModel.default_config({"length": {"median": 49.0}}) == BagConfig()
    assert BagModel.default_config({"length": {"median": 50.0}}) == BagConfig(max_len=20)
    # the built-in models keep their documented per-family defaults
    long = {"length": {"median": 80.0}}
    assert TransformerModel.default_config(long).max_len == 200
    assert TransformerModel.default_config(long).dropout == 0.1
    assert (GRUModel.default_config(long).max_len, GRUModel.default_config(long).dropout) == (
        200,
        0.1,
    )


def test_default_batches_need_max_len(split):
    @dataclass(frozen=True)
    class NoLen(TrainerConfig):
        hidden: int = 4

    class NoLenModel(BagModel):
        config_cls = NoLen

    with pytest.raises(TypeError, match="max_len"):
        NoLenModel().fit(split.train, seed=0)


def test_versions():
    from seqrec_bench.models import MarkovModel, PopularityModel

    # 2: the random streams of seqrec_bench.seeding; 3: the chunked full-softmax loss;
    # 4: the CPU dropout masks and the jittered length buckets
    assert TransformerModel.version == GRUModel.version == 4
    assert MarkovModel.version == PopularityModel.version == BagModel.version == 1


@pytest.mark.parametrize("model_cls", [TransformerModel, GRUModel])
def test_length_groups_compute_the_same_loss_and_gradients_as_the_whole_batch(model_cls):
    from seqrec_bench.training import SequenceBatches

    rng = np.random.default_rng(1)
    lengths = rng.integers(2, 30, size=96)
    seqs = Sequences.from_lengths(rng.integers(1, 40, size=lengths.sum()), lengths, 40)
    model = model_cls(max_len=24, hidden=16, dropout=0.0, max_epochs=1).fit(seqs, seed=0)
    batches = SequenceBatches(seqs, batch_size=96, max_len=25, side=model_cls.padding_side)
    (batch,) = list(batches(torch.Generator().manual_seed(0)))
    assert len(batch.length_groups(4)) == 4
    widths = [part.items.shape[1] for part in batch.length_groups(4)]
    assert widths == sorted(widths) and widths[0] < widths[-1]  # narrower groups first

    def loss_and_grads(groups: int) -> tuple[float, list[torch.Tensor]]:
        model.module.train()
        model.module.zero_grad()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(type(model), "cpu_length_groups", groups)
            value = model._make_loss(seqs)(batch)
        value.backward()
        return float(value), [
            p.grad.clone() for p in model.module.parameters() if p.grad is not None
        ]

    whole, grads_whole = loss_and_grads(1)
    grouped, grads_grouped = loss_and_grads(4)
    assert grouped == pytest.approx(whole, rel=1e-5)
    for a, b in zip(grads_grouped, grads_whole, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
