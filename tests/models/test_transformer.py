from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqrec_bench.data import LeaveOneOutSplit, Sequences
from seqrec_bench.evaluation.evaluator import Evaluator
from seqrec_bench.models import NotFittedError, PopularityModel
from seqrec_bench.models.base import parse_overrides
from seqrec_bench.models.transformer import SASRecModule, TransformerConfig, TransformerModel

_SMALL = {"max_len": 12, "hidden": 16, "batch_size": 32, "n_blocks": 2, "n_heads": 2}


def _module(norm: str = "pre", **kw) -> SASRecModule:
    cfg = TransformerConfig(**{**_SMALL, "norm": norm, "dropout": 0.0, **kw})
    torch.manual_seed(0)
    return SASRecModule(20, cfg).eval()


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_shapes_and_last_position_shortcut(norm):
    module = _module(norm)
    items = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 7]])
    hidden = module(items)
    assert hidden.shape == (3, 5, 16) and torch.isfinite(hidden).all()
    torch.testing.assert_close(module(items, last_only=True), hidden[:, -1])


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_future_items_never_change_earlier_positions(norm):
    module = _module(norm)
    g = torch.Generator().manual_seed(1)
    items = torch.randint(1, 21, (4, 10), generator=g)
    base = module(items)
    for t in range(9):
        changed = items.clone()
        changed[:, t + 1 :] = torch.randint(1, 21, changed[:, t + 1 :].shape, generator=g)
        out = module(changed)
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1])
        assert not torch.allclose(out[:, t + 1 :], base[:, t + 1 :])


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_left_padding_does_not_change_real_positions(norm):
    module = _module(norm)
    items = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 7]])
    padded = torch.cat([torch.zeros(3, 4, dtype=torch.long), items], dim=1)
    torch.testing.assert_close(module(padded, last_only=True), module(items, last_only=True))
    real = items != 0
    torch.testing.assert_close(module(padded)[:, 4:][real], module(items)[real])


def test_padding_rows_stay_finite_in_training_mode():
    # left padding + causal mask leaves padded query rows with no real key; they must not NaN
    module = _module(dropout=0.3).train()
    items = torch.tensor([[0, 0, 0, 0, 2], [0, 0, 0, 0, 0]])
    out = module(items)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)


def test_sequences_longer_than_max_len_are_rejected():
    with pytest.raises(ValueError, match="max_len"):
        _module()(torch.ones(1, 13, dtype=torch.long))


def test_tied_and_untied_output_embeddings():
    tied = _module()
    assert tied.item_weights().data_ptr() == tied.item_emb.weight[1:].data_ptr()
    untied = _module(tie_embeddings=False)
    assert untied.item_weights().data_ptr() != untied.item_emb.weight[1:].data_ptr()
    assert untied.item_weights().shape == (20, 16)


@pytest.mark.parametrize(
    "loss",
    [
        {"loss": "ce"},
        {"loss": "bce"},
        {"loss": "sampled", "n_negatives": 8},
        {"loss": "sampled", "n_negatives": 8, "negative_sampler": "popularity"},
        {
            "loss": "sampled",
            "n_negatives": 8,
            "negative_sampler": "popularity",
            "logq_correction": False,
        },
    ],
    ids=["ce", "bce", "sampled-uniform", "sampled-pop-logq", "sampled-pop"],
)
def test_each_loss_runs_and_decreases(loss, cycle_sequences):
    model = TransformerModel(**_SMALL, max_epochs=4, lr=5e-3, **loss)
    model.fit(cycle_sequences, seed=0)
    losses = [r["loss"] for r in model.history]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]


def test_learns_a_planted_pattern_that_popularity_cannot(cycle_sequences):
    split = LeaveOneOutSplit.from_sequences(cycle_sequences)
    validator = Evaluator(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])
    test = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
    model = TransformerModel(**_SMALL, max_epochs=15, lr=5e-3, dropout=0.1, patience=15)
    model.fit(split.train, seed=0, validator=validator)
    ndcg = test.evaluate(model).metrics["NDCG@10"]
    pop = test.evaluate(PopularityModel().fit(split.train)).metrics["NDCG@10"]
    assert ndcg > 0.8 and pop < 0.3


def test_same_seed_same_scores_and_score_before_fit(tiny_split):
    with pytest.raises(NotFittedError):
        TransformerModel(**_SMALL).score(tiny_split.valid_inputs)
    scores = [
        TransformerModel(**_SMALL, max_epochs=2)
        .fit(tiny_split.train, seed=3)
        .score(tiny_split.test_inputs)
        for _ in range(2)
    ]
    assert torch.equal(scores[0], scores[1])
    other = TransformerModel(**_SMALL, max_epochs=2).fit(tiny_split.train, seed=4)
    assert not torch.equal(scores[0], other.score(tiny_split.test_inputs))  # the seed matters


def test_refit_resets_state(tiny_split, cycle_sequences):
    model = TransformerModel(**_SMALL, max_epochs=2)
    model.fit(cycle_sequences, seed=0)
    model.fit(tiny_split.train, seed=0)
    fresh = TransformerModel(**_SMALL, max_epochs=2).fit(tiny_split.train, seed=0)
    assert len(model.history) == 2 and model.n_items == tiny_split.n_items
    assert torch.equal(model.score(tiny_split.test_inputs), fresh.score(tiny_split.test_inputs))


def test_scores_ignore_items_beyond_max_len(rng):
    lengths = rng.integers(15, 30, size=8)
    seqs = Sequences.from_lengths(rng.integers(1, 21, size=lengths.sum()), lengths, 20)
    model = TransformerModel(**_SMALL, max_epochs=1).fit(seqs, seed=0)
    torch.testing.assert_close(model.score(seqs), model.score(seqs.tail(12)))


def test_default_config_by_dataset_family():
    long_cfg = TransformerModel.default_config(
        {
            "users": 6040,
            "items": 3416,
            "interactions": 999611,
            "length": {"median": 96, "mean": 165},
        }
    )
    assert (long_cfg.max_len, long_cfg.hidden, long_cfg.n_blocks, long_cfg.n_heads) == (
        200,
        64,
        2,
        1,
    )
    assert (long_cfg.dropout, long_cfg.batch_size, long_cfg.lr, long_cfg.loss) == (
        0.1,
        128,
        1e-3,
        "ce",
    )
    assert (long_cfg.max_epochs, long_cfg.patience) == (100, 10)
    short_cfg = TransformerModel.default_config({"length": {"median": 6, "mean": 8.9}})
    assert short_cfg == TransformerConfig() and short_cfg.max_len == 50
    for broken in (
        None,
        {},
        {"length": None},
        {"length": {"median": "n/a"}},
        {"length": {"median": float("nan")}},
    ):
        assert TransformerModel.default_config(broken) == TransformerConfig()


def test_config_validation_and_cli_overrides():
    with pytest.raises(ValueError, match="divide"):
        TransformerConfig(hidden=10, n_heads=3)
    with pytest.raises(ValueError):
        TransformerConfig(loss="hinge")
    cfg = parse_overrides(TransformerConfig(), {"lr": "3e-4", "norm": "post", "ffn_dim": "none"})
    assert (cfg.lr, cfg.norm, cfg.ffn_dim) == (3e-4, "post", None)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_and_scoring(cycle_sequences):
    split = LeaveOneOutSplit.from_sequences(cycle_sequences)
    validator = Evaluator(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])
    model = TransformerModel(**_SMALL, max_epochs=10, lr=5e-3, dropout=0.1)
    model.fit(split.train, seed=0, device="cuda", validator=validator)
    scores = model.score(split.test_inputs)
    assert scores.device.type == "cuda" and scores.dtype == torch.float32
    cpu = TransformerModel(**_SMALL, max_epochs=10, lr=5e-3, dropout=0.1)
    cpu.fit(split.train, seed=0, validator=validator)
    test = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
    assert test.evaluate(model).metrics["NDCG@10"] > 0.7
    assert np.isfinite(test.evaluate(cpu).metrics["NDCG@10"])


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_unpadded_batches_take_plain_causal_attention_with_the_same_result(norm):
    cfg = TransformerConfig(**{**_SMALL, "norm": norm, "dropout": 0.0})
    module = SASRecModule(30, cfg).eval()
    items = torch.randint(1, 31, (5, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for last_only in (False, True):
            masked = module(items, last_only=last_only)
            causal = module(items, last_only=last_only, dense=True)
            torch.testing.assert_close(causal, masked, rtol=1e-5, atol=1e-6)


def test_training_and_scoring_use_is_causal_only_without_padding(monkeypatch):
    import torch.nn.functional as F

    from seqrec_bench.models import transformer as module

    calls = []
    sdpa = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
        calls.append((attn_mask is None, is_causal, q.shape[2]))
        return sdpa(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal)

    monkeypatch.setattr(module.F, "scaled_dot_product_attention", spy)
    full = Sequences.from_lists([[1, 2, 3, 4, 5, 6, 7]] * 4, n_items=8)  # all longer than max_len
    # without dropout on the attention weights (with it, CPU training writes attention out:
    # test_cpu_attention_with_dropout_is_sdpa_with_a_dropout_mask)
    small = {**_SMALL, "max_len": 5, "n_blocks": 1, "attn_dropout": 0.0}
    model = TransformerModel(**small, max_epochs=1)
    model.fit(full, seed=0)
    assert calls and all(no_mask and causal for no_mask, causal, _ in calls)
    calls.clear()
    model.score(full)  # the last query alone: no mask, and nothing to make causal
    assert calls == [(True, False, 1)]
    calls.clear()
    padded = Sequences.from_lists([[1, 2, 3, 4, 5, 6, 7], [2, 3]] * 2, n_items=8)
    model.fit(padded, seed=0)
    model.score(padded)
    assert calls and all(not no_mask and not causal for no_mask, causal, _ in calls)


@pytest.mark.parametrize("masked", [False, True])
def test_cpu_attention_with_dropout_is_sdpa_with_a_dropout_mask(masked):
    import torch.nn.functional as F

    from seqrec_bench.models.transformer import _cpu_attention_with_dropout
    from seqrec_bench.training.dropout import keep_mask

    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 6, 4, generator=gen) for _ in range(3))
    mask = None
    if masked:  # left padding of 2 in row 0; every row attends to itself
        real = torch.ones(3, 6, dtype=torch.bool)
        real[0, :2] = False
        causal = torch.ones(6, 6, dtype=torch.bool).tril()
        mask = (causal & (real.unsqueeze(1) | torch.eye(6, dtype=torch.bool))).unsqueeze(1)
    # a rate below the 16-bit grid drops nothing: plain attention
    plain = _cpu_attention_with_dropout(q, k, v, mask, 1e-7)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
    torch.testing.assert_close(plain, expected)
    # with dropout: the weights times the mask the same draws give, scaled by 1 / keep rate
    torch.manual_seed(1)
    out = _cpu_attention_with_dropout(q, k, v, mask, 0.25)
    torch.manual_seed(1)
    keep = keep_mask((3, 2, 6, 6), 0.25, torch.device("cpu"))
    causal = torch.ones(6, 6, dtype=torch.bool).tril() if mask is None else mask
    weights = torch.softmax((q @ k.transpose(-2, -1) / 2.0).masked_fill(~causal, -torch.inf), -1)
    torch.testing.assert_close(out, (weights * keep / 0.75) @ v)
    assert not keep.all()
