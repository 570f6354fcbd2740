from __future__ import annotations

import pytest
import torch

from seqrec_bench.training import resolve_device


def test_cpu_and_device_objects_pass_through():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("seqrec_bench.training.device._mps_available", lambda: True)
    assert resolve_device(None).type == "mps"
    monkeypatch.setattr("seqrec_bench.training.device._mps_available", lambda: False)
    assert resolve_device("AUTO") == torch.device("cpu")


def test_unavailable_or_unknown_devices_fail_early(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu-ish")


def test_set_deterministic_switches_torch_and_cublas(monkeypatch):
    from seqrec_bench.training import determinism_info, set_deterministic

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        info = set_deterministic(True)
        assert info == {"deterministic_algorithms": True, "cublas_workspace_config": ":4096:8"}
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    finally:
        set_deterministic(False)
    assert determinism_info()["deterministic_algorithms"] is False
    # a value the user set is kept
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    try:
        assert set_deterministic(True)["cublas_workspace_config"] == ":16:8"
    finally:
        set_deterministic(False)
