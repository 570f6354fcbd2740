"""``TrainerConfig(compile=True)``: compiled training steps, eager scoring, a clean fall-back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec_bench.data import Sequences
from seqrec_bench.models import TransformerModel
from seqrec_bench.models.base import config_from_dict, config_to_dict
from seqrec_bench.training import SequenceBatches, TrainerConfig
from seqrec_bench.training import compile as compile_module

_SMALL = {"max_len": 12, "hidden": 16, "n_heads": 2, "batch_size": 16, "max_epochs": 2}


@pytest.fixture
def seqs() -> Sequences:
    rng = np.random.default_rng(0)
    return Sequences.from_lists(
        [list(rng.integers(1, 20, size=rng.integers(3, 15))) for _ in range(48)], n_items=20
    )


def _losses(model: TransformerModel) -> list[float]:
    return [r["loss"] for r in model.history]


def test_a_compiler_that_fails_falls_back_to_eager_training(seqs, monkeypatch):
    def broken(fn, **kwargs):
        def call(*args, **kw):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore text")

        return call

    monkeypatch.setattr(compile_module.torch, "compile", broken)
    with pytest.warns(RuntimeWarning, match="transformer: torch.compile is not available here"):
        model = TransformerModel(**_SMALL, compile=True).fit(seqs, seed=0)
    result = model.train_result
    assert result is not None and result.compiled is False
    assert result.compile_error == "RuntimeError: InvalidCxxCompiler: No working C++ compiler found"
    assert "forward" not in model.module.__dict__  # the eager forward is back
    eager = TransformerModel(**_SMALL).fit(seqs, seed=0)
    # the same training, up to the rounding of the wider (64-multiple) batches
    np.testing.assert_allclose(_losses(model), _losses(eager), rtol=1e-4)
    torch.testing.assert_close(model.score(seqs), eager.score(seqs), rtol=1e-3, atol=1e-3)


def test_torch_compile_refusing_at_once_also_falls_back(seqs, monkeypatch):
    def refuse(fn, **kwargs):
        raise RuntimeError("Dynamo is not supported on Python 3.99+")

    monkeypatch.setattr(compile_module.torch, "compile", refuse)
    with pytest.warns(RuntimeWarning, match="Dynamo is not supported"):
        model = TransformerModel(**_SMALL, compile=True).fit(seqs, seed=0)
    assert model.train_result is not None and model.train_result.compiled is False


def test_a_genuine_error_of_the_step_is_still_raised():
    net = torch.nn.Linear(2, 1)
    compiled = compile_module.CompiledForward(net, "demo")
    compiled._forward = lambda *a: (_ for _ in ()).throw(RuntimeError("compile failed"))

    def step() -> torch.Tensor:
        net(torch.ones(1, 2))
        raise ValueError("a bug in the loss")

    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="a bug in the loss"):
        with compiled.active():
            compiled.run(step)


def test_compile_stays_out_of_the_stored_config_until_it_is_turned_on():
    off = config_to_dict(TrainerConfig())
    assert "compile" not in off  # cells stored before the field existed keep their keys
    on = config_to_dict(TrainerConfig(compile=True))
    assert on["compile"] is True
    assert config_from_dict(TrainerConfig, off).compile is False
    assert config_from_dict(TrainerConfig, on).compile is True
    with pytest.raises(ValueError, match="compile must be true or false"):
        TrainerConfig(compile="yes")  # type: ignore[arg-type]


def test_compiled_batches_take_a_few_rounded_widths(seqs):
    batches = SequenceBatches(seqs, batch_size=8, max_len=13, width_multiple=4)
    widths = {b.items.shape[1] for b in batches(torch.Generator().manual_seed(0))}
    assert widths <= {4, 8, 12, 13}
    with pytest.raises(ValueError, match="width_multiple"):
        SequenceBatches(seqs, batch_size=8, max_len=13, width_multiple=0)


@pytest.mark.slow
def test_compiled_training_matches_eager_training(seqs):
    # the real compiler (inductor needs a C++ compiler on the CPU, as CI's machine has);
    # without dropout the compiled steps compute the same function, rounded differently
    torch._dynamo.reset()
    cfg = {**_SMALL, "dropout": 0.0, "max_epochs": 2}
    compiled = TransformerModel(**cfg, compile=True).fit(seqs, seed=0)
    eager = TransformerModel(**cfg).fit(seqs, seed=0)
    assert compiled.train_result is not None
    assert compiled.train_result.compiled is True, compiled.train_result.compile_error
    np.testing.assert_allclose(_losses(compiled), _losses(eager), rtol=1e-3)
    torch.testing.assert_close(compiled.score(seqs), eager.score(seqs), rtol=1e-2, atol=1e-2)
    assert "forward" not in compiled.module.__dict__  # scoring ran eagerly
    torch._dynamo.reset()
