from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqrec_bench.training import (
    bce_loss,
    full_softmax_loss,
    sample_negatives,
    sampled_softmax_loss,
)
from seqrec_bench.training.losses import CPU_CACHE_BYTES, CPU_CHUNK_BYTES, ce_chunk_rows


def _data(seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(40, 6, generator=g, dtype=dtype, requires_grad=True)
    emb = torch.randn(25, 6, generator=g, dtype=dtype, requires_grad=True)
    targets = torch.randint(1, 26, (40,), generator=g)
    return h, emb, targets


def test_full_softmax_equals_cross_entropy_with_gradients():
    h, emb, t = _data()
    loss = full_softmax_loss(h, emb, t)
    (3.0 * loss).backward()  # a non-unit upstream gradient must scale correctly
    got = (h.grad.clone(), emb.grad.clone())
    h.grad = emb.grad = None
    ref = F.cross_entropy(h @ emb.T, t - 1)
    (3.0 * ref).backward()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(got[0], h.grad)
    torch.testing.assert_close(got[1], emb.grad)


def test_full_softmax_gradcheck():
    h, emb, t = _data(1, torch.float64)
    assert torch.autograd.gradcheck(lambda a, b: full_softmax_loss(a, b, t), (h, emb))


def test_full_softmax_of_nothing_is_zero_with_gradients():
    h, emb, _ = _data()
    loss = full_softmax_loss(h[:0], emb, torch.zeros(0, dtype=torch.long))
    loss.backward()
    assert float(loss.detach()) == 0.0 and emb.grad is not None


def test_bce_and_sampled_are_finite_and_differentiable():
    h, emb, t = _data()
    g = torch.Generator().manual_seed(0)
    neg = sample_negatives(len(t), 25, generator=g, device=torch.device("cpu"))
    assert int(neg.min()) >= 1 and int(neg.max()) <= 25
    loss = bce_loss(h, emb, t, neg)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(h.grad).all()

    probs = torch.linspace(1, 2, 25)
    probs = probs / probs.sum()
    negs = sample_negatives(10, 25, generator=g, device=torch.device("cpu"), probabilities=probs)
    for log_q in (None, probs.log()):
        h.grad = None
        loss = sampled_softmax_loss(h, emb, t, negs, log_q)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(h.grad).all()


def test_sampled_softmax_ignores_accidental_hits():
    h, emb, t = _data()
    # every negative equals some target: with the hits masked out, a position whose target is
    # its only negative has a loss of exactly 0 (softmax over itself)
    negs = t[:1].clone()
    loss_each = []
    for i in range(len(t)):
        loss = sampled_softmax_loss(h[i : i + 1], emb, t[i : i + 1], negs)
        loss_each.append(float(loss.detach()))
    assert all(v == 0.0 for v, ti in zip(loss_each, t.tolist(), strict=True) if ti == int(negs))


def test_sampled_with_all_items_equals_full_softmax():
    h, emb, t = _data()
    all_items = torch.arange(1, 26)
    # the target appears among the negatives and is masked, leaving exactly the full softmax
    torch.testing.assert_close(
        sampled_softmax_loss(h, emb, t, all_items), full_softmax_loss(h, emb, t)
    )


# -- chunked full softmax --------------------------------------------------------------------
def _grads(loss_fn, h, emb, upstream=3.0):
    h = h.detach().clone().requires_grad_(True)
    emb = emb.detach().clone().requires_grad_(True)
    loss = loss_fn(h, emb)
    (upstream * loss).backward()
    return loss.detach(), h.grad, emb.grad


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("rows", [64, 128, 1000])
def test_chunked_full_softmax_equals_unchunked_and_reference(dtype, rows):
    g = torch.Generator().manual_seed(3)
    h = torch.randn(300, 16, generator=g, dtype=dtype)
    emb = torch.randn(700, 16, generator=g, dtype=dtype)
    t = torch.randint(1, 701, (300,), generator=g)
    chunked = _grads(lambda a, b: full_softmax_loss(a, b, t, chunk_rows=rows), h, emb)
    whole = _grads(lambda a, b: full_softmax_loss(a, b, t, chunk_rows=10_000), h, emb)
    ref = _grads(lambda a, b: F.cross_entropy(a @ b.T, t - 1), h, emb)
    for got, base, want in zip(chunked, whole, ref, strict=True):
        torch.testing.assert_close(got, base)
        torch.testing.assert_close(got, want)


def test_chunked_full_softmax_gradcheck():
    h, emb, t = _data(4, torch.float64)
    assert torch.autograd.gradcheck(
        lambda a, b: full_softmax_loss(a, b, t, chunk_rows=16), (h, emb)
    )


def test_chunked_full_softmax_without_gradients_and_with_one_input():
    h, emb, t = _data(5)
    with torch.no_grad():
        value = full_softmax_loss(h, emb, t, chunk_rows=8)
    torch.testing.assert_close(value, F.cross_entropy(h @ emb.T, t - 1).detach())
    frozen = emb.detach()
    loss = full_softmax_loss(h, frozen, t, chunk_rows=8)
    loss.backward()
    assert h.grad is not None and frozen.grad is None


def test_default_chunk_budget_is_bounded_and_at_least_256_rows():
    for n_items in (3_416, 12_101, 26_744, 100_000):
        rows = ce_chunk_rows(n_items)
        assert rows % 64 == 0 and rows >= 256
        assert rows * n_items * 4 <= max(CPU_CACHE_BYTES, 256 * n_items * 4)
    # a catalogue so large that 256 rows would pass the memory cap
    assert ce_chunk_rows(10_000_000) * 10_000_000 * 4 <= CPU_CHUNK_BYTES


def test_chunk_budget_follows_the_environment(monkeypatch):
    monkeypatch.setenv("SEQBENCH_CE_CHUNK_MB", "1")
    assert ce_chunk_rows(1000) == (2**20 // 8000) // 64 * 64  # 8 bytes per logit


@pytest.mark.parametrize("rows", [None, 64])
def test_full_softmax_under_fp16_autocast_keeps_the_small_gradients(rows):
    # per-logit gradients of 1 / (items * positions) are below fp16's range: products in fp16
    # flush most of the item-embedding gradient to zero
    g = torch.Generator().manual_seed(6)
    h = torch.randn(512, 32, generator=g) * 0.1
    emb = torch.randn(4000, 32, generator=g) * 0.1
    t = torch.randint(1, 4001, (512,), generator=g)
    with torch.autocast("cpu", dtype=torch.float16):
        _, gh, gw = _grads(lambda a, b: full_softmax_loss(a, b, t, chunk_rows=rows), h, emb, 1.0)
    _, rh, rw = _grads(lambda a, b: F.cross_entropy(a @ b.T, t - 1), h, emb, 1.0)
    assert gw.dtype == torch.float32
    assert (gw != 0).all(dim=1).float().mean() > 0.99
    torch.testing.assert_close(gw, rw, rtol=2e-2, atol=1e-7)
    torch.testing.assert_close(gh, rh, rtol=2e-2, atol=1e-6)


def test_fused_kernel_request_falls_back_off_cuda(monkeypatch):
    from seqrec_bench.training import losses

    h, emb, t = _data(7)
    plain = full_softmax_loss(h, emb, t)
    monkeypatch.setattr(losses, "_FUSED_WARNED", set())
    monkeypatch.setenv("SEQBENCH_CE_KERNEL", "cce")
    with pytest.warns(UserWarning, match="CUDA only: the chunked full-softmax loss is used"):
        fused = full_softmax_loss(h, emb, t)
    torch.testing.assert_close(fused, plain)
    monkeypatch.setenv("SEQBENCH_CE_KERNEL", "fastest")
    with pytest.warns(UserWarning, match="unknown SEQBENCH_CE_KERNEL"):
        full_softmax_loss(h, emb, t)
