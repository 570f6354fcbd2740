"""CUDA-only checks (``-m gpu``; skipped without CUDA). ``benchmarks/gpu_check.sh`` runs them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqrec_bench.data import LeaveOneOutSplit, Sequences
from seqrec_bench.evaluation import Evaluator
from seqrec_bench.models.gru import GRUConfig, GRUModel, GRUModule
from seqrec_bench.models.transformer import TransformerModel
from seqrec_bench.training import full_softmax_loss, set_deterministic
from seqrec_bench.training.losses import ce_chunk_rows
from seqrec_bench.training.precision import resolve_amp
from seqrec_bench.training.trainer import _make_optimizer, _optimizer_options

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

_SMALL = {"max_len": 12, "hidden": 16, "batch_size": 32}


def test_auto_amp_follows_the_card():
    want = torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    assert resolve_amp("auto", "cuda") is want


def test_gru_recurrence_stays_fp32_under_cuda_autocast():
    module = GRUModule(50, GRUConfig(**_SMALL, dropout=0.0)).cuda().eval()
    items = torch.randint(1, 51, (4, 10), device="cuda")
    plain = module(items)
    for dtype in (torch.bfloat16, torch.float16):
        with torch.autocast("cuda", dtype=dtype):
            mixed = module(items)
        assert mixed.dtype == torch.float32
        torch.testing.assert_close(mixed, plain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [None, torch.bfloat16, torch.float16])
def test_chunked_loss_on_cuda_matches_the_reference(dtype):
    g = torch.Generator(device="cuda").manual_seed(0)
    h = (torch.randn(1000, 64, device="cuda", generator=g) * 0.1).requires_grad_()
    w = (torch.randn(5000, 64, device="cuda", generator=g) * 0.1).requires_grad_()
    t = torch.randint(1, 5001, (1000,), device="cuda", generator=g)
    ref = F.cross_entropy(h @ w.T, t - 1)
    ref_grads = torch.autograd.grad(ref, (h, w))
    ctx = torch.autocast("cuda", dtype=dtype) if dtype else torch.autocast("cuda", enabled=False)
    with ctx:
        loss = full_softmax_loss(h, w, t, chunk_rows=256)
    grads = torch.autograd.grad(loss, (h, w))
    tol = {"rtol": 2e-2, "atol": 1e-6} if dtype else {"rtol": 1e-4, "atol": 1e-7}
    torch.testing.assert_close(loss.float(), ref, **tol)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, **tol)


def test_chunk_rows_respect_free_memory():
    rows = ce_chunk_rows(1_000_000, "cuda")
    free, _ = torch.cuda.mem_get_info()
    assert rows * 1_000_000 * 4 <= max(free, 64 * 4 * 1_000_000)


def test_fused_adam_on_cuda_matches_the_default():
    params = [torch.nn.Parameter(torch.randn(100, 8, device="cuda"))]
    assert _optimizer_options(torch.device("cuda"), params) == {"fused": True}
    from seqrec_bench.training import TrainerConfig

    fused = _make_optimizer(TrainerConfig(), params, torch.device("cuda"))
    plain_params = [torch.nn.Parameter(params[0].detach().clone())]
    plain = torch.optim.Adam(plain_params, lr=1e-3)
    for _ in range(5):
        for p, opt in ((params[0], fused), (plain_params[0], plain)):
            opt.zero_grad()
            (p.square().sum()).backward()
            opt.step()
    torch.testing.assert_close(params[0], plain_params[0], rtol=1e-5, atol=1e-6)


def test_pinned_host_batches_reach_the_device(cycle_sequences: Sequences):
    from seqrec_bench.training import SequenceBatches

    batches = SequenceBatches(
        cycle_sequences, batch_size=16, max_len=8, device="cuda", keep_on_device=False
    )
    assert batches._matrix.is_pinned()
    on_device = SequenceBatches(cycle_sequences, batch_size=16, max_len=8, device="cuda")
    gen = torch.Generator().manual_seed(0)
    first = [b.items.cpu() for b in batches(gen)]
    gen = torch.Generator().manual_seed(0)
    second = [b.items.cpu() for b in on_device(gen)]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("model_cls", [TransformerModel, GRUModel])
def test_two_deterministic_cuda_runs_give_the_same_ranks(cycle_sequences, model_cls):
    split = LeaveOneOutSplit.from_sequences(cycle_sequences)
    test = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
    ranks = []
    set_deterministic(True)
    try:
        for _ in range(2):
            model = model_cls(**_SMALL, max_epochs=3, lr=5e-3)
            model.fit(split.train, seed=0, device="cuda")
            ranks.append(test.ranks(model))
    finally:
        set_deterministic(False)
    assert (ranks[0] == ranks[1]).all()


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_training_on_cuda(cycle_sequences, amp):
    split = LeaveOneOutSplit.from_sequences(cycle_sequences)
    model = TransformerModel(**_SMALL, max_epochs=10, lr=5e-3, dropout=0.1, amp=amp)
    model.fit(split.train, seed=0, device="cuda")
    test = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
    assert test.evaluate(model).metrics["NDCG@10"] > 0.7


def test_cut_cross_entropy_kernel_when_installed(monkeypatch):
    pytest.importorskip("cut_cross_entropy")
    g = torch.Generator(device="cuda").manual_seed(1)
    h = (torch.randn(512, 64, device="cuda", generator=g) * 0.1).requires_grad_()
    w = (torch.randn(3000, 64, device="cuda", generator=g) * 0.1).requires_grad_()
    t = torch.randint(1, 3001, (512,), device="cuda", generator=g)
    ref = full_softmax_loss(h, w, t)
    monkeypatch.setenv("SEQBENCH_CE_KERNEL", "cce")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        fused = full_softmax_loss(h, w, t)
    torch.testing.assert_close(fused.float(), ref, rtol=2e-2, atol=1e-3)


def test_compiled_training_on_cuda_stays_compiled(cycle_sequences: Sequences):
    # inductor on CUDA (Triton): the training steps must compile, not fall back
    torch._dynamo.reset()
    cfg = {**_SMALL, "max_epochs": 2, "dropout": 0.0, "amp": "off"}
    compiled = TransformerModel(**cfg, compile=True).fit(cycle_sequences, seed=0, device="cuda")
    eager = TransformerModel(**cfg).fit(cycle_sequences, seed=0, device="cuda")
    result = compiled.train_result
    assert result is not None and result.compiled is True, result.compile_error
    losses = [r["loss"] for r in compiled.history], [r["loss"] for r in eager.history]
    assert losses[0] == pytest.approx(losses[1], rel=1e-3)
    torch._dynamo.reset()
