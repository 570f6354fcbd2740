from __future__ import annotations

import torch
import torch.nn.functional as F

from seqrec_bench.training import (
    bce_loss,
    full_softmax_loss,
    sample_negatives,
    sampled_softmax_loss,
)


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
