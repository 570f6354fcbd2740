from __future__ import annotations

import math

import pytest
import torch

from seqrec_bench.data import LeaveOneOutSplit, Sequences
from seqrec_bench.evaluation.evaluator import Evaluator
from seqrec_bench.models import NotFittedError, PopularityModel
from seqrec_bench.models.gru import GRUConfig, GRUModel, GRUModule

_SMALL = {"max_len": 12, "hidden": 16, "batch_size": 32}


def test_shapes_and_causality():
    module = GRUModule(20, GRUConfig(**_SMALL, n_layers=2, dropout=0.0)).eval()
    g = torch.Generator().manual_seed(0)
    items = torch.randint(1, 21, (3, 8), generator=g)
    base = module(items)
    assert base.shape == (3, 8, 16)
    changed = items.clone()
    changed[:, 5:] = torch.randint(1, 21, (3, 3), generator=g)
    torch.testing.assert_close(module(changed)[:, :5], base[:, :5])


def test_scores_do_not_depend_on_batch_padding():
    seqs = Sequences.from_lists([[1, 2, 3, 4, 5, 6, 7], [2, 3], [4]], n_items=8)
    model = GRUModel(**_SMALL, max_epochs=1).fit(seqs, seed=0)
    together = model.score(seqs)
    for row in range(3):
        alone = model.score(seqs.select([row]))
        torch.testing.assert_close(alone[0], together[row])


def test_loss_decreases_and_pattern_is_learned(cycle_sequences):
    split = LeaveOneOutSplit.from_sequences(cycle_sequences)
    validator = Evaluator(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])
    model = GRUModel(**_SMALL, max_epochs=15, lr=5e-3, patience=15)
    model.fit(split.train, seed=0, validator=validator)
    losses = [r["loss"] for r in model.history]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    test = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
    pop = test.evaluate(PopularityModel().fit(split.train)).metrics["NDCG@10"]
    assert test.evaluate(model).metrics["NDCG@10"] > 0.8 and pop < 0.3


def test_determinism_refit_and_score_before_fit(tiny_split, cycle_sequences):
    with pytest.raises(NotFittedError):
        GRUModel(**_SMALL).score(tiny_split.valid_inputs)
    a = GRUModel(**_SMALL, max_epochs=2).fit(tiny_split.train, seed=1)
    b = GRUModel(**_SMALL, max_epochs=2).fit(cycle_sequences, seed=1).fit(tiny_split.train, seed=1)
    assert torch.equal(a.score(tiny_split.test_inputs), b.score(tiny_split.test_inputs))
    c = GRUModel(**_SMALL, max_epochs=2).fit(tiny_split.train, seed=2)
    assert not torch.equal(a.score(tiny_split.test_inputs), c.score(tiny_split.test_inputs))
    assert len(b.history) == 2


def test_default_config_by_dataset_family():
    long_cfg = GRUModel.default_config({"length": {"median": 96}})
    assert long_cfg.max_len == 200 and long_cfg.dropout == 0.1
    assert GRUModel.default_config({"length": {"median": 6}}) == GRUConfig()
    assert GRUModel.default_config(None) == GRUConfig()
    assert GRUModel.default_config({"users": 3}) == GRUConfig()


def test_config_validation():
    with pytest.raises(ValueError):
        GRUConfig(n_layers=0)
    with pytest.raises(ValueError):
        GRUConfig(dropout=1.0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_and_scoring(cycle_sequences):
    split = LeaveOneOutSplit.from_sequences(cycle_sequences)
    model = GRUModel(**_SMALL, max_epochs=10, lr=5e-3)
    model.fit(split.train, seed=0, device="cuda")
    scores = model.score(split.test_inputs)
    assert scores.device.type == "cuda" and torch.isfinite(scores).all()
    test = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
    assert test.evaluate(model).metrics["NDCG@10"] > 0.7


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_recurrence_runs_outside_autocast_in_fp32(monkeypatch, dtype):
    # CUDA's autocast wrapper for cuDNN RNNs casts to fp16 whatever was asked: the GRU must run
    # with autocast off and fp32 inputs, which CPU autocast lets us check without a GPU
    module = GRUModule(20, GRUConfig(**_SMALL, dropout=0.0)).eval()
    seen = []
    gru_forward = module.gru.forward

    def spy(x, *args, **kwargs):
        seen.append((torch.is_autocast_enabled("cpu"), x.dtype))
        return gru_forward(x, *args, **kwargs)

    monkeypatch.setattr(module.gru, "forward", spy)
    items = torch.randint(1, 21, (3, 8), generator=torch.Generator().manual_seed(0))
    plain = module(items)
    with torch.autocast("cpu", dtype=dtype):
        mixed = module(items)
    assert seen == [(False, torch.float32), (False, torch.float32)]
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, plain)
