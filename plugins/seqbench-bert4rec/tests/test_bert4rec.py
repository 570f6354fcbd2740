"""BERT4Rec: seqrec_bench's contract suite plus the model's own properties."""

from __future__ import annotations

import importlib.metadata

import pytest
import torch
import torch.nn.functional as F
from seqrec_bench.data import Sequences
from seqrec_bench.models.base import ConfigError, parse_overrides
from seqrec_bench.testing import ModelContract, sequence_stats

from seqbench_bert4rec import BERT4RecConfig, BERT4RecModel, BERT4RecModule
from seqbench_bert4rec.model import _cloze_mask, _with_ones

SMALL = {
    "max_len": 12,
    "hidden": 16,
    "n_blocks": 1,
    "batch_size": 32,
    "max_epochs": 2,
    "patience": 2,
}


class TestBERT4RecContract(ModelContract):
    model_cls = BERT4RecModel
    config_overrides = SMALL
    # the cloze objective learns "next item" only indirectly: give it a few more epochs
    planted_overrides = {"hidden": 32, "max_epochs": 20, "patience": 20, "lr": 5e-3, "dropout": 0.0}
    min_ndcg = 0.5


def test_paper_defaults_and_dataset_dependent_max_len():
    cfg = BERT4RecConfig()
    assert (cfg.hidden, cfg.n_blocks, cfg.n_heads, cfg.mask_prob) == (64, 2, 2, 0.2)
    assert (cfg.max_len, cfg.dropout) == (50, 0.2)
    # many updates per epoch and a long patience, to outlast the cloze objective's plateau
    assert (cfg.batch_size, cfg.patience, cfg.optimizer) == (64, 50, "adamw")
    assert BERT4RecModel.default_config(None) == cfg
    assert BERT4RecModel.default_config({"length": {"median": "n/a"}}) == cfg
    long = BERT4RecModel.default_config({"length": {"median": 96.0}})
    assert (long.max_len, long.dropout) == (200, 0.1)
    short = sequence_stats(Sequences.from_lists([[1, 2, 3]] * 3, n_items=3))
    assert BERT4RecModel.default_config(short).max_len == 50


def test_config_validation_and_string_overrides():
    with pytest.raises(ValueError, match="n_heads"):
        BERT4RecConfig(hidden=10, n_heads=3)
    with pytest.raises(ValueError, match="max_len"):
        BERT4RecConfig(max_len=1)
    with pytest.raises(ValueError, match="mask_prob"):
        BERT4RecConfig(mask_prob=0.0)
    cfg = parse_overrides(
        BERT4RecConfig(), {"mask_prob": "0.6", "optimizer": "adam", "ffn_dim": "none"}
    )
    assert (cfg.mask_prob, cfg.optimizer, cfg.ffn_dim) == (0.6, "adam", None)
    with pytest.raises(ConfigError):
        parse_overrides(BERT4RecConfig(), {"optimizer": "sgd"})


def test_cloze_mask_counts_positions_and_last_item_samples():
    items = torch.tensor([[5, 6, 7, 8, 9, 1, 2, 3, 4, 5], [1, 2, 0, 0, 0, 0, 0, 0, 0, 0]])
    lengths = torch.tensor([10, 2])
    cfg = BERT4RecConfig(mask_prob=0.3, last_item_prob=0.0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        masked = _cloze_mask(items, lengths, cfg, gen)
        assert masked.sum(1).tolist() == [3, 1]  # round(0.3 * 10), and at least one
        assert not masked[items == 0].any()  # padding is never masked
    last_only = _cloze_mask(items, lengths, BERT4RecConfig(last_item_prob=1.0), gen)
    assert last_only.nonzero().tolist() == [[0, 9], [1, 1]]
    again = _cloze_mask(items, lengths, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(again, _cloze_mask(items, lengths, cfg, torch.Generator().manual_seed(0)))


def test_attention_is_bidirectional_and_ignores_padding():
    module = BERT4RecModule(10, BERT4RecConfig(max_len=6, hidden=8, dropout=0.0)).eval()
    base = torch.tensor([[1, 2, 3, 4, 0, 0]])
    changed_later = torch.tensor([[1, 2, 3, 7, 0, 0]])
    with torch.no_grad():
        h = module(base)
        # the first position sees a later item: not causal
        assert not torch.allclose(h[0, 0], module(changed_later)[0, 0])
        # what sits in padded slots (never attended) does not matter, nor does the width
        torch.testing.assert_close(h[0, :4], module(base[:, :4])[0])


def test_scores_read_the_mask_position_after_the_last_max_len_minus_one_items():
    train = Sequences.from_lists([[1, 2, 3, 4, 5], [2, 3, 4, 5, 6]], n_items=6)
    model = BERT4RecModel(max_len=4, hidden=8, max_epochs=1).fit(train, seed=0)
    long = Sequences.from_lists([[6, 5, 1, 2, 3]], n_items=6)
    tail = Sequences.from_lists([[1, 2, 3]], n_items=6)  # what a max_len of 4 keeps
    torch.testing.assert_close(model.score(long), model.score(tail))
    items = torch.tensor([[1, 2, 3, model.module.mask_token]])
    with torch.no_grad():
        expected = model.module.logits(model.module(items)[:, -1])
    torch.testing.assert_close(model.score(tail), expected)


def test_training_loss_is_full_catalogue_cross_entropy_with_output_bias():
    module = BERT4RecModule(7, BERT4RecConfig(max_len=5, hidden=8))
    with torch.no_grad():
        module.output_bias.copy_(torch.linspace(-1, 1, 7))
    hidden, targets = torch.randn(4, 8), torch.tensor([1, 3, 7, 2])
    from seqrec_bench.training import full_softmax_loss

    fused = full_softmax_loss(
        _with_ones(module.transform(hidden)), module.output_weights(), targets
    )
    reference = F.cross_entropy(module.logits(hidden), targets - 1)
    torch.testing.assert_close(fused, reference)
    assert module.output_weights().shape == (7, 9)  # no padding, no [mask] row


def test_masks_come_from_their_own_stream():
    from seqrec_bench.seeding import stream_seed

    # version 2: init, shuffling, dropout and masks each have a stream of their own (3: the
    # chunked full-softmax loss)
    assert BERT4RecModel.version == 3
    train = Sequences.from_lists([[1, 2, 3, 4, 5], [2, 3, 4, 5, 6]], n_items=6)
    model = BERT4RecModel(max_len=4, hidden=8, max_epochs=1).fit(train, seed=3)
    generators = [
        c.cell_contents
        for c in model._make_loss(train).__closure__ or ()
        if isinstance(c.cell_contents, torch.Generator)
    ]
    assert [g.initial_seed() for g in generators] == [stream_seed(3, "masking")]


def test_registered_through_the_entry_point():
    try:
        importlib.metadata.distribution("seqbench-bert4rec")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("seqbench-bert4rec is not installed (pip install -e plugins/seqbench-bert4rec)")
    from seqrec_bench.registry import get_model_class, get_model_info

    assert get_model_class("bert4rec") is BERT4RecModel
    assert get_model_info("bert4rec").origin.startswith("seqbench-bert4rec==")


def test_the_plugin_declares_its_search_space():
    # `seqbench tune` searches a plugin's own space, declared like a built-in's
    from seqrec_bench.models.space import validate_space

    space = BERT4RecModel.search_space
    assert set(space) == {"lr", "hidden", "n_blocks", "dropout", "mask_prob"}
    assert space["lr"].log and space["lr"].low == 1e-4 and space["lr"].high == 1e-2
    validate_space("bert4rec", BERT4RecModel.config_cls, space)
