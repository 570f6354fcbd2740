"""Next-item losses over hidden states and an item embedding table.

All three take the hidden states of the positions that have a target, already gathered
(``(N, d)``; never compute logits for padding), the output item embeddings **without** the
padding row (``(n_items, d)``, row ``j`` = item ``j + 1``) and the 1-based targets ``(N,)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["full_softmax_loss", "bce_loss", "sampled_softmax_loss", "sample_negatives"]


def full_softmax_loss(
    hidden: torch.Tensor, item_embeddings: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of a softmax over the whole catalogue (SASRec+ / "CE" loss).

    Equal to ``F.cross_entropy(hidden @ item_embeddings.T, targets - 1)``, computed by a fused
    function that turns the ``(N, n_items)`` logits into their gradient in place during the
    forward pass. The logits matrix is by far the largest tensor of a step; the fused version
    touches it about half as often (no separate log-softmax, one-hot and backward buffers),
    which roughly halves the time of the loss on the CPU.

    Example:
        >>> h, emb = torch.zeros(3, 4), torch.zeros(5, 4)
        >>> round(float(full_softmax_loss(h, emb, torch.tensor([1, 2, 5]))), 4)  # log(5)
        1.6094
    """
    if len(targets) == 0:
        return (hidden.sum() + item_embeddings.sum()) * 0.0
    return _LinearCrossEntropy.apply(hidden, item_embeddings, targets - 1)


class _LinearCrossEntropy(torch.autograd.Function):
    """``mean_i -log softmax(h_i E^T)[t_i]`` with the softmax gradient built in the forward."""

    @staticmethod
    def forward(ctx, hidden, weight, cols):  # type: ignore[override]
        logits = hidden @ weight.T  # under CUDA autocast the product runs in bf16
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        n = logits.shape[0]
        lse = torch.logsumexp(logits, dim=1)
        rows = torch.arange(n, device=logits.device)
        loss = (lse - logits[rows, cols]).mean()
        # d loss / d logits = (softmax - onehot) / n, written over the logits buffer
        grad = logits.sub_(lse.unsqueeze(1)).exp_()
        grad[rows, cols] -= 1.0
        grad.div_(n)
        ctx.save_for_backward(hidden, weight, grad)
        ctx.mm_dtype = (
            torch.get_autocast_dtype("cuda")
            if hidden.is_cuda and torch.is_autocast_enabled("cuda")
            else None
        )
        return loss

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        hidden, weight, grad = ctx.saved_tensors
        # the matrix products run in the autocast dtype when the forward did (bf16 on CUDA)
        dt = ctx.mm_dtype or torch.promote_types(hidden.dtype, weight.dtype)
        g = grad.to(dt)
        # grad_out (a device scalar) scales the small results, not the (N, n_items) buffer
        grad_hidden = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_hidden = ((g @ weight.to(dt)).float() * grad_out).to(hidden.dtype)
        if ctx.needs_input_grad[1]:
            grad_weight = ((g.T @ hidden.to(dt)).float() * grad_out).to(weight.dtype)
        return grad_hidden, grad_weight, None


def bce_loss(
    hidden: torch.Tensor,
    item_embeddings: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
) -> torch.Tensor:
    """Binary cross-entropy of each target against one negative per position (original SASRec).

    Args:
        negatives: ``(N,)`` 1-based negative item per position.
    """
    pos = (hidden * item_embeddings[targets - 1]).sum(-1).float()
    neg = (hidden * item_embeddings[negatives - 1]).sum(-1).float()
    # a negative drawn equal to the target is no negative: leave it out of the loss
    keep = (negatives != targets).float()
    neg_loss = F.softplus(neg) * keep
    return F.softplus(-pos).mean() + neg_loss.sum() / keep.sum().clamp_min(1.0)


def sampled_softmax_loss(
    hidden: torch.Tensor,
    item_embeddings: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    log_q: torch.Tensor | None = None,
) -> torch.Tensor:
    """Softmax over the target and ``K`` negatives shared by every position of the batch.

    Args:
        negatives: ``(K,)`` 1-based negative items, shared across the batch (one matrix product).
        log_q: ``(n_items,)`` log sampling probability of every item. When given, the logQ
            correction subtracts it from each logit (target and negatives alike), which makes the
            sampled softmax an unbiased estimate of the full one under non-uniform sampling.
    """
    pos = (hidden * item_embeddings[targets - 1]).sum(-1, keepdim=True).float()  # (N, 1)
    neg = (hidden @ item_embeddings[negatives - 1].T).float()  # (N, K)
    if log_q is not None:
        pos = pos - log_q[targets - 1].unsqueeze(1)
        neg = neg - log_q[negatives - 1].unsqueeze(0)
    # accidental hits: a negative equal to the position's target must not compete with it
    neg = neg.masked_fill(negatives.unsqueeze(0) == targets.unsqueeze(1), float("-inf"))
    logits = torch.cat([pos, neg], dim=1)
    zeros = torch.zeros(len(targets), dtype=torch.long, device=hidden.device)
    return F.cross_entropy(logits, zeros)


def sample_negatives(
    n: int,
    n_items: int,
    *,
    generator: torch.Generator,
    device: torch.device,
    probabilities: torch.Tensor | None = None,
) -> torch.Tensor:
    """``n`` 1-based item ids drawn uniformly, or from ``probabilities`` (``(n_items,)``)."""
    if probabilities is None:
        return torch.randint(1, n_items + 1, (n,), generator=generator, device=device)
    return torch.multinomial(probabilities, n, replacement=True, generator=generator) + 1
