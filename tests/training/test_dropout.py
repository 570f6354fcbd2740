"""The CPU dropout whose mask is drawn 16 bits at a time."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqrec_bench.training.dropout import Dropout, dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5, 0.9])
def test_every_lane_of_the_random_words_keeps_at_the_asked_rate(p):
    # each int64 word gives four 16-bit lanes: a lane with a biased bit (the sign bit of a
    # generator range that is not the whole int64 range) would keep at the wrong rate
    torch.manual_seed(0)
    n = 1 << 20
    keep = keep_mask((n,), p, torch.device("cpu")).view(-1, 4).float()
    sigma = (p * (1 - p) / (n / 4)) ** 0.5
    for lane in range(4):
        assert abs(float(keep[:, lane].mean()) - (1 - p)) < 6 * sigma


def test_kept_values_are_scaled_to_an_unbiased_output_and_the_gradient_follows_the_mask():
    torch.manual_seed(1)
    x = torch.randn(50_000, requires_grad=True)
    y = dropout(x, 0.3)
    kept = y != 0
    scale = 65536 / (65536 - round(0.3 * 65536))
    torch.testing.assert_close(y[kept], x[kept] * scale)
    y.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, kept.float() * scale)
    ones = dropout(torch.ones(1 << 20), 0.3)
    assert abs(float(ones.mean()) - 1.0) < 6 * (0.3 / 0.7 / (1 << 20)) ** 0.5


def test_the_global_seed_makes_masks_reproducible():
    torch.manual_seed(3)
    a = dropout(torch.ones(1000), 0.5)
    torch.manual_seed(3)
    b = dropout(torch.ones(1000), 0.5)
    c = dropout(torch.ones(1000), 0.5)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_odd_sizes_eval_mode_and_edge_rates():
    x = torch.randn(3, 5, 7)  # 105 elements: not a multiple of four lanes
    torch.manual_seed(0)
    y = dropout(x, 0.5)
    assert y.shape == x.shape and bool((y == 0).any()) and bool((y != 0).any())
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    assert dropout(x, 1e-7) is x  # below the 16-bit grid: nothing is dropped
    assert torch.equal(dropout(x, 1.0), F.dropout(x, 1.0))
    module = Dropout(0.25)
    module.eval()
    assert module(x) is x
    assert "p=0.25" in repr(module)
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.0)
