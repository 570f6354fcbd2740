"""Next-item losses over hidden states and an item embedding table.

All three take the hidden states of the positions that have a target, already gathered
(``(N, d)``; never compute logits for padding), the output item embeddings **without** the
padding row (``(n_items, d)``, row ``j`` = item ``j + 1``) and the 1-based targets ``(N,)``.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from seqrec_bench.training.precision import autocast_disabled, autocast_dtype

__all__ = [
    "full_softmax_loss",
    "ce_chunk_rows",
    "CPU_CHUNK_BYTES",
    "CUDA_CHUNK_BYTES",
    "bce_loss",
    "sampled_softmax_loss",
    "sample_negatives",
]


#: Logits held at once by the full-softmax loss on the CPU (bytes; ``SEQBENCH_CE_CHUNK_MB``
#: overrides). 1 GiB keeps the usual shapes (ML-1M: 25,600 positions x 3,416 items; Amazon:
#: 6,400 x 12,101) in one chunk, exactly as before chunking, and bounds ML-20M's 26,744 items.
CPU_CHUNK_BYTES = 1 << 30
#: The same bound on CUDA, lowered to a quarter of the free memory on smaller cards. A fixed
#: value where memory allows keeps the chunking (and so the rounding of the summed item
#: gradient) the same from run to run.
CUDA_CHUNK_BYTES = 2 << 30


def full_softmax_loss(
    hidden: torch.Tensor,
    item_embeddings: torch.Tensor,
    targets: torch.Tensor,
    *,
    chunk_rows: int | None = None,
) -> torch.Tensor:
    """Cross-entropy of a softmax over the whole catalogue (SASRec+ / "CE" loss).

    Equal to ``F.cross_entropy(hidden @ item_embeddings.T, targets - 1)``, computed by a fused
    function that turns the ``(N, n_items)`` logits into their gradient in place during the
    forward pass. The logits matrix is by far the largest tensor of a step; the fused version
    touches it about half as often (no separate log-softmax, one-hot and backward buffers),
    which roughly halves the time of the loss on the CPU.

    When ``N x n_items`` logits exceed the memory budget (:func:`ce_chunk_rows`), the rows are
    processed in chunks: each chunk's logits become its gradient and are multiplied into the
    gradients of the hidden states and of the item embeddings straight away, so the peak memory
    is ``O(chunk x n_items)`` instead of ``O(N x n_items)`` (15 GB at 100k items and 25,600
    positions). Loss and gradients equal the unchunked ones up to float rounding.

    Args:
        chunk_rows: positions per chunk; ``None`` chooses from the memory budget.

    Example:
        >>> h, emb = torch.zeros(3, 4), torch.zeros(5, 4)
        >>> round(float(full_softmax_loss(h, emb, torch.tensor([1, 2, 5]))), 4)  # log(5)
        1.6094
    """
    if len(targets) == 0:
        return (hidden.sum() + item_embeddings.sum()) * 0.0
    n = hidden.shape[0]
    rows = chunk_rows or ce_chunk_rows(item_embeddings.shape[0], hidden.device)
    if rows >= n:
        return _LinearCrossEntropy.apply(hidden, item_embeddings, targets - 1)
    return _ChunkedLinearCrossEntropy.apply(hidden, item_embeddings, targets - 1, int(rows))


def ce_chunk_rows(n_items: int, device: str | torch.device = "cpu") -> int:
    """Positions per chunk of the full-softmax loss for ``n_items`` items on ``device``.

    The budget is :data:`CPU_CHUNK_BYTES` on the CPU, and on CUDA :data:`CUDA_CHUNK_BYTES` or a
    quarter of the free device memory, whichever is smaller. A position costs about 6 bytes
    per item under autocast (the bf16/fp16 logits and their fp32 copy) and 4 without.

    Example:
        >>> ce_chunk_rows(26_744) >= 10_000
        True
    """
    device = torch.device(device)
    per_item = 4
    dtype = autocast_dtype(device.type)
    if dtype in (torch.float16, torch.bfloat16):
        per_item += 2
    if device.type == "cuda":
        budget = CUDA_CHUNK_BYTES
        try:
            free, _ = torch.cuda.mem_get_info(device)
            # memory the caching allocator holds but does not use is free for this purpose
            free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
            budget = min(budget, free // 4)
        except (RuntimeError, AssertionError):
            pass
    else:
        env = os.environ.get("SEQBENCH_CE_CHUNK_MB", "").strip()
        budget = int(float(env) * 2**20) if env else CPU_CHUNK_BYTES
    rows = budget // max(1, per_item * int(n_items))
    # multiples of 64 rows keep the matrix products on their fast paths
    return max(64, rows // 64 * 64)


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """:class:`_LinearCrossEntropy` over row chunks, the gradients accumulated chunk by chunk.

    The forward pass computes the gradients of ``hidden`` and ``weight`` (only those needed);
    the backward pass only scales them by the upstream gradient. The gradient products run in
    the inputs' dtype (fp32 for fp32 parameters, also under autocast): a per-logit gradient of
    ``1 / (n_items * N)`` is below fp16's smallest number, and computing in fp32 from the fp32
    gradient buffer also spares a cast copy of it.
    """

    @staticmethod
    def forward(ctx, hidden, weight, cols, rows):  # type: ignore[override]
        n = hidden.shape[0]
        dt = torch.promote_types(hidden.dtype, weight.dtype)
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_hidden = torch.empty(hidden.shape, dtype=dt, device=hidden.device) if need_h else None
        grad_weight = torch.zeros(weight.shape, dtype=dt, device=weight.device) if need_w else None
        weight_mm = weight.to(dt)
        total = torch.zeros(
            (), dtype=torch.float32 if dt != torch.float64 else dt, device=hidden.device
        )
        for start in range(0, n, rows):
            h = hidden[start : start + rows]
            c = cols[start : start + rows]
            logits = h @ weight.T  # under autocast the product runs in its dtype
            if logits.dtype in (torch.float16, torch.bfloat16):
                logits = logits.float()
            lse = torch.logsumexp(logits, dim=1)
            idx = torch.arange(len(c), device=logits.device)
            total += (lse - logits[idx, c]).sum()
            if not (need_h or need_w):
                continue
            grad = logits.sub_(lse.unsqueeze(1)).exp_()
            grad[idx, c] -= 1.0
            grad = grad.div_(n).to(dt)
            with autocast_disabled(hidden.device.type):  # products in dt, whatever the context
                if grad_hidden is not None:
                    torch.mm(grad, weight_mm, out=grad_hidden[start : start + rows])
                if grad_weight is not None:
                    grad_weight.addmm_(grad.T, h.to(dt))
            del logits, grad
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.dtypes = (hidden.dtype, weight.dtype)
        return total / n

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        grad_hidden, grad_weight = ctx.saved_tensors
        h_dtype, w_dtype = ctx.dtypes
        gh = (grad_hidden * grad_out).to(h_dtype) if grad_hidden is not None else None
        gw = (grad_weight * grad_out).to(w_dtype) if grad_weight is not None else None
        return gh, gw, None, None


class _LinearCrossEntropy(torch.autograd.Function):
    """``mean_i -log softmax(h_i E^T)[t_i]`` with the softmax gradient built in the forward."""

    @staticmethod
    def forward(ctx, hidden, weight, cols):  # type: ignore[override]
        logits = hidden @ weight.T  # under autocast the product runs in its dtype
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
        return loss

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        hidden, weight, grad = ctx.saved_tensors
        # The products run in the inputs' dtype (fp32 for fp32 parameters), not the autocast
        # one: a per-logit gradient of 1 / (n_items * N) (~1.6e-9 at ML-1M's shape) is below
        # fp16's smallest number and would flush to zero before any loss scale applied, and
        # reading the fp32 buffer directly also spares writing a half-precision copy of it.
        dt = torch.promote_types(hidden.dtype, weight.dtype)
        g = grad.to(dt)
        # grad_out (a device scalar) scales the small results, not the (N, n_items) buffer
        grad_hidden = grad_weight = None
        # on the CPU a backward called inside an autocast block runs under it: opt out
        with autocast_disabled(hidden.device.type):
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
