"""Mixed precision: amp resolution, autocast plumbing (through CPU autocast) and fp16 scaling."""

from __future__ import annotations

import math
import sys

import pytest
import torch

from seqrec_bench.data import LeaveOneOutSplit, Sequences
from seqrec_bench.training import TrainerConfig, precision
from seqrec_bench.training.precision import (
    autocast_context,
    autocast_dtype,
    make_grad_scaler,
    resolve_amp,
)
from seqrec_bench.training.trainer import _optimizer_options

_SMALL = {"hidden": 8, "batch_size": 16, "max_len": 6}


@pytest.fixture
def split(cycle_sequences: Sequences) -> LeaveOneOutSplit:
    return LeaveOneOutSplit.from_sequences(cycle_sequences)


def test_amp_resolution_per_device(monkeypatch):
    assert resolve_amp("auto", "cpu") is None  # the CPU default stays full precision
    assert resolve_amp("off", "cpu") is None
    assert resolve_amp("bf16", "cpu") is torch.bfloat16
    assert resolve_amp("fp16", "cpu") is torch.float16
    assert resolve_amp("bf16", "mps") is None
    monkeypatch.setattr(precision, "_cuda_bf16_supported", lambda device: True)
    assert resolve_amp("auto", "cuda") is torch.bfloat16
    # a pre-Ampere card: no bf16, so auto means full precision (not emulated bf16)
    monkeypatch.setattr(precision, "_cuda_bf16_supported", lambda device: False)
    assert resolve_amp("auto", "cuda") is None
    assert resolve_amp("fp16", "cuda") is torch.float16
    with pytest.raises(ValueError, match="amp must be one of"):
        resolve_amp("fp8", "cpu")


def test_trainer_config_amp_values():
    assert TrainerConfig().amp == "auto"
    with pytest.raises(ValueError, match="former true is 'auto'"):
        TrainerConfig(amp=True)  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the per-backend functions, on purpose
@pytest.mark.parametrize("typed", [True, False])
def test_autocast_dtype_reads_cpu_autocast_on_either_api(monkeypatch, typed):
    if not typed:
        if not hasattr(torch, "is_autocast_cpu_enabled"):
            pytest.skip("this torch no longer has the per-backend autocast functions")
        # the torch < 2.4 branch: no device-typed autocast functions
        monkeypatch.setattr(precision, "_has_device_typed_autocast", lambda: False)
    assert autocast_dtype("cpu") is None
    with autocast_context("cpu", torch.bfloat16)():
        assert autocast_dtype("cpu") is torch.bfloat16
        with precision.autocast_disabled("cpu"):
            assert autocast_dtype("cpu") is None
    assert autocast_dtype("cuda") is None


def test_grad_scaler_only_for_fp16():
    assert make_grad_scaler("cpu", None) is None
    assert make_grad_scaler("cpu", torch.bfloat16) is None
    scaler = make_grad_scaler("cpu", torch.float16)
    assert scaler is not None and hasattr(scaler, "scale")


def test_fused_adam_only_for_cuda_parameters():
    cpu_params = [torch.nn.Parameter(torch.zeros(2))]
    assert _optimizer_options(torch.device("cpu"), cpu_params) == {}
    assert _optimizer_options(None, cpu_params) == {}
    # parameters left on the CPU by mistake: no fused kernel (it would raise)
    assert _optimizer_options(torch.device("cuda"), cpu_params) == {}


@pytest.mark.parametrize(
    ("amp", "expected"), [("auto", None), ("off", None), ("bf16", torch.bfloat16)]
)
def test_trainer_runs_the_loss_under_the_resolved_autocast(
    toy_model_cls, split, monkeypatch, amp, expected
):
    toy_module = sys.modules[toy_model_cls.__module__].ToyModule
    seen: list[tuple[bool, torch.dtype | None]] = []
    forward = toy_module.forward

    def spy(self, items):
        seen.append((self.training, autocast_dtype("cpu")))
        return forward(self, items)

    monkeypatch.setattr(toy_module, "forward", spy)
    model = toy_model_cls(**_SMALL, max_epochs=1, amp=amp)
    model.fit(split.train, seed=0)
    model.score(split.test_inputs)
    in_training = {dtype for training, dtype in seen if training}
    assert in_training == {expected}
    # scoring never runs under the training autocast
    assert {dtype for training, dtype in seen if not training} == {None}


def test_fp16_training_on_cpu_uses_the_scaler_and_stays_finite(toy_model_cls, split, monkeypatch):
    calls = []
    real = precision.make_grad_scaler

    def spy(device, dtype):
        scaler = real(device, dtype)
        calls.append(scaler)
        return scaler

    from seqrec_bench.training import trainer

    monkeypatch.setattr(trainer, "make_grad_scaler", spy)
    model = toy_model_cls(**_SMALL, max_epochs=2, amp="fp16", grad_clip=1.0)
    model.fit(split.train, seed=0)
    assert calls and calls[0] is not None
    assert all(math.isfinite(r["loss"]) for r in model.history)
    assert torch.isfinite(model.score(split.test_inputs)).all()
