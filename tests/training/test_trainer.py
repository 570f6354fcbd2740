from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from seqrec_bench.data import LeaveOneOutSplit, Sequences
from seqrec_bench.evaluation.evaluator import EvaluationResult, Evaluator
from seqrec_bench.training import TrainingError, progress_enabled, progress_mode, train
from seqrec_bench.training.trainer import _Progress

_SMALL = {"hidden": 8, "batch_size": 16, "max_len": 6}


class ScriptedValidator(Evaluator):
    """A real Evaluator whose metric follows a script, recording the weights it saw."""

    def __init__(self, split: LeaveOneOutSplit, values: list[float]) -> None:
        super().__init__(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])
        self.values = values
        self.snapshots: list[torch.Tensor] = []

    def evaluate(self, model) -> EvaluationResult:
        self.ranks(model)  # the real scoring path (raises if the model cannot score)
        self.snapshots.append(model.module.proj.weight.detach().clone())
        value = self.values[min(len(self.snapshots), len(self.values)) - 1]
        return EvaluationResult(ranks=np.zeros(0), metrics={"NDCG@10": value}, seconds=0.0)


@pytest.fixture
def split(cycle_sequences: Sequences) -> LeaveOneOutSplit:
    return LeaveOneOutSplit.from_sequences(cycle_sequences)


def test_early_stopping_restores_the_best_epoch(toy_model_cls, split):
    validator = ScriptedValidator(split, [0.1, 0.2, 0.5, 0.3, 0.2, 0.1, 0.4, 0.1])
    model = toy_model_cls(**_SMALL, max_epochs=20, patience=3)
    model.fit(split.train, seed=0, validator=validator)
    assert model.best_epoch == 3
    assert [int(r["epoch"]) for r in model.history] == [1, 2, 3, 4, 5, 6]  # 3 past the best
    assert model.result.stop_reason == "patience" and model.result.best_value == 0.5
    assert torch.equal(model.module.proj.weight, validator.snapshots[2])
    assert not model.module.training  # handed back in eval mode
    for record in model.history:
        assert set(record) >= {"epoch", "loss", "seconds", "NDCG@10"}


def test_min_delta_needs_a_real_improvement(toy_model_cls, split):
    validator = ScriptedValidator(split, [0.30, 0.305, 0.31, 0.2])
    model = toy_model_cls(**_SMALL, max_epochs=4, patience=10, min_delta=0.02)
    model.fit(split.train, seed=0, validator=validator)
    assert model.best_epoch == 1


def test_eval_every_evaluates_on_schedule_and_at_the_end(toy_model_cls, split):
    validator = ScriptedValidator(split, [0.1, 0.2, 0.3])
    model = toy_model_cls(**_SMALL, max_epochs=5, eval_every=2, patience=10)
    model.fit(split.train, seed=0, validator=validator)
    evaluated = [int(r["epoch"]) for r in model.history if "NDCG@10" in r]
    assert evaluated == [2, 4, 5] and model.best_epoch == 5


def test_patience_waits_for_a_first_evaluation(toy_model_cls, split):
    validator = ScriptedValidator(split, [0.1, 0.1, 0.1])
    model = toy_model_cls(**_SMALL, max_epochs=8, eval_every=4, patience=1)
    model.fit(split.train, seed=0, validator=validator)
    # evaluated at 4 (the first value is always the best so far) and stopped at 8, not at 1
    assert len(model.history) == 8 and model.best_epoch == 4


def test_without_validator_runs_all_epochs_and_keeps_the_last(toy_model_cls, split):
    model = toy_model_cls(**_SMALL, max_epochs=3)
    model.fit(split.train, seed=0)
    assert len(model.history) == 3 and model.best_epoch == 3
    assert model.result.stop_reason == "max_epochs" and model.result.best_value is None
    losses = [r["loss"] for r in model.history]
    assert losses[-1] < losses[0]


def test_time_budget_stops_between_epochs(toy_model_cls, split):
    model = toy_model_cls(**_SMALL, max_epochs=1000, time_budget=1e-3)
    validator = ScriptedValidator(split, [0.1])
    model.fit(split.train, seed=0, validator=validator)
    assert model.result.stop_reason == model.stop_reason == "time_budget"
    assert len(model.history) == 1 and "NDCG@10" in model.history[0]  # last epoch evaluated


def test_same_seed_same_weights_different_seed_different(toy_model_cls, split):
    def weights(seed: int) -> torch.Tensor:
        model = toy_model_cls(**_SMALL, max_epochs=2)
        model.fit(split.train, seed=seed)
        return torch.cat([p.detach().flatten() for p in model.module.parameters()])

    assert torch.equal(weights(5), weights(5))
    assert not torch.equal(weights(5), weights(6))


def test_shuffling_and_dropout_use_their_own_streams(toy_model_cls, split):
    from seqrec_bench.seeding import stream_seed

    model = toy_model_cls(**_SMALL)
    model.seed, model.device, model.n_items = 7, torch.device("cpu"), split.n_items
    module = torch.nn.Linear(2, 1)
    seen: dict[str, int] = {}

    def batches(generator):
        seen["shuffle"] = generator.initial_seed()
        return iter([torch.ones(3, 2)])

    def loss(batch):
        seen.setdefault("dropout", torch.initial_seed())  # the forked global RNG's seed
        return module(batch).pow(2).mean()

    train(model, module, loss, batches, config=model.config.__class__(max_epochs=1))
    assert seen == {"shuffle": stream_seed(7, "shuffle"), "dropout": stream_seed(7, "dropout")}
    assert (
        len({seen["shuffle"], seen["dropout"], stream_seed(7, "init"), stream_seed(8, "init")}) == 4
    )


def test_training_leaves_the_global_rng_alone(toy_model_cls, split):
    state = torch.random.get_rng_state()
    toy_model_cls(**_SMALL, max_epochs=1).fit(split.train, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_non_finite_loss_names_model_and_epoch(toy_model_cls, split):
    model = toy_model_cls(**_SMALL, max_epochs=3, poison=True)
    with pytest.raises(TrainingError, match=r"toy: .*non-finite.*epoch 1"):
        model.fit(split.train, seed=0)
    assert not model.is_fitted


def test_exploding_learning_rate_is_a_training_error(toy_model_cls, split):
    model = toy_model_cls(**_SMALL, max_epochs=5, lr=1e30, dropout=0.0)
    validator = Evaluator(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])
    with pytest.raises(TrainingError, match="toy"):
        model.fit(split.train, seed=0, validator=validator)
    assert not model.is_fitted


def test_monitor_must_be_computed_by_the_validator(toy_model_cls, split):
    validator = Evaluator(split.valid_inputs, split.valid_targets, metrics=["HR@10"])
    with pytest.raises(TrainingError, match="NDCG@10"):
        toy_model_cls(**_SMALL, max_epochs=1).fit(split.train, seed=0, validator=validator)


def test_a_factory_without_batches_is_an_error(toy_model_cls, split):
    model = toy_model_cls(**_SMALL)
    model.seed, model.device, model.n_items = 0, torch.device("cpu"), split.n_items
    module = torch.nn.Linear(2, 2)
    with pytest.raises(TrainingError, match="no batches"):
        train(model, module, lambda b: b, lambda g: iter(()), config=model.config)


def _one_step(model, module, loss_fn, **config):
    """One epoch of one batch through ``train`` (the optimiser's first step only)."""
    cfg = model.config.__class__(max_epochs=1, **config)
    train(model, module, loss_fn, lambda g: iter([torch.ones(1, 4)]), config=cfg)


@pytest.fixture
def bare_model(toy_model_cls, split):
    model = toy_model_cls(**_SMALL)
    model.seed, model.device, model.n_items = 0, torch.device("cpu"), split.n_items
    return model


def test_adamw_decay_is_decoupled_from_the_gradient(bare_model):
    # a zero gradient: Adam's step is 0, so only AdamW's decoupled decay can move the weights,
    # by exactly w * (1 - lr * weight_decay); ignoring weight_decay (or applying it as Adam's L2
    # penalty, whose step is ~lr * sign(w)) gives other weights
    def weights_after(**config):
        torch.manual_seed(0)
        module = torch.nn.Linear(4, 3, bias=False)
        before = module.weight.detach().clone()
        _one_step(bare_model, module, lambda b: (module(b) * 0.0).sum(), lr=0.1, **config)
        return before, module.weight.detach()

    before, after = weights_after(optimizer="adamw", weight_decay=0.5)
    torch.testing.assert_close(after, before * (1 - 0.1 * 0.5))
    before, after = weights_after(optimizer="adamw", weight_decay=0.0)
    torch.testing.assert_close(after, before)
    before, after = weights_after(optimizer="adam", weight_decay=0.5)  # L2 into the gradient
    torch.testing.assert_close(after, before - 0.1 * before.sign(), atol=1e-4, rtol=0)


def test_grad_clip_bounds_the_gradient_norm_the_optimiser_sees(bare_model):
    norms: list[float] = []

    def record(optimizer, args, kwargs):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))))

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    handle = register_optimizer_step_pre_hook(record)
    try:
        for clip in (None, 0.5):
            module = torch.nn.Linear(4, 3)
            _one_step(bare_model, module, lambda b, m=module: 100.0 * m(b).sum(), grad_clip=clip)
    finally:
        handle.remove()
    unclipped, clipped = norms
    assert unclipped > 10.0  # the loss's gradient is large ...
    assert clipped == pytest.approx(0.5, rel=1e-5)  # ... and the optimiser gets it clipped


def test_adamw_and_grad_clip_train_a_model(toy_model_cls, split):
    model = toy_model_cls(
        **_SMALL, max_epochs=2, optimizer="adamw", weight_decay=0.01, grad_clip=0.5
    )
    model.fit(split.train, seed=0)
    assert all(math.isfinite(r["loss"]) for r in model.history)
    plain = toy_model_cls(**_SMALL, max_epochs=2).fit(split.train, seed=0)
    assert not torch.equal(model.module.proj.weight, plain.module.proj.weight)


def test_progress_off_a_terminal_is_one_plain_line_per_epoch(
    toy_model_cls, split, capsys, monkeypatch
):
    """A piped run (nohup, Slurm, CI) must show it is alive: no live display, but epoch lines."""
    monkeypatch.delenv("SEQBENCH_PROGRESS", raising=False)
    assert progress_mode() == "lines" and not progress_enabled()  # pytest's stderr is no tty
    toy_model_cls(**_SMALL, max_epochs=2, patience=5).fit(split.train, seed=3)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("toy seed 3 epoch 1/2: loss ") and "elapsed" in lines[0]
    assert "\x1b" not in "".join(lines)  # plain text, no terminal control codes
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")  # --quiet
    toy_model_cls(**_SMALL, max_epochs=1).fit(split.train, seed=0)
    assert capsys.readouterr().err == ""


def test_progress_environment_switch(monkeypatch):
    monkeypatch.setenv("SEQBENCH_PROGRESS", "0")
    assert not progress_enabled()
    monkeypatch.setenv("SEQBENCH_PROGRESS", "1")
    assert progress_enabled()


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_forced_progress_display_draws_bars_and_epoch_lines(
    toy_model_cls, split, capsys, monkeypatch
):
    monkeypatch.setenv("SEQBENCH_PROGRESS", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich draws live bars only on a terminal
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    progress = _Progress("toy", max_epochs=2, steps=3, monitor="NDCG@10")
    with progress:
        progress.start_epoch(1)
        progress.step()
        progress.end_epoch({"epoch": 1, "loss": 1.0, "seconds": 0.1, "NDCG@10": 0.5}, 0.5)
    err = _plain(capsys.readouterr().err)
    assert "toy epochs" in err and "0/2" in err and "1/2" in err  # the epoch bar
    assert "epoch 1" in err and "0/3" in err  # the batch bar of epoch 1
    assert "toy epoch 1: loss 1.0000, val NDCG@10 0.5000 (0.1s)" in err  # the epoch line
    assert "best 0.5000" in err
    # a real fit draws through the same display
    toy_model_cls(**_SMALL, max_epochs=1).fit(split.train, seed=0)
    err = _plain(capsys.readouterr().err)
    assert "toy epochs" in err and "toy epoch 1: loss" in err


def test_forced_progress_off_a_terminal_prints_the_epoch_lines(
    toy_model_cls, split, capsys, monkeypatch
):
    monkeypatch.setenv("SEQBENCH_PROGRESS", "1")
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    toy_model_cls(**_SMALL, max_epochs=2).fit(split.train, seed=0)
    err = _plain(capsys.readouterr().err)
    assert "toy epoch 1: loss" in err and "toy epoch 2: loss" in err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_on_cuda_with_autocast(toy_model_cls, split):
    model = toy_model_cls(**_SMALL, max_epochs=2)
    validator = Evaluator(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])
    model.fit(split.train, seed=0, device="cuda", validator=validator)
    scores = model.score(split.test_inputs)
    assert scores.device.type == "cuda" and torch.isfinite(scores).all()
    assert all(math.isfinite(r["loss"]) for r in model.history)
