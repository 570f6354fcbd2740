"""Next-item losses over hidden states and an item embedding table.

All three take the hidden states of the positions that have a target, already gathered
(``(N, d)``; never compute logits for padding), the output item embeddings **without** the
padding row (``(n_items, d)``, row ``j`` = item ``j + 1``) and the 1-based targets ``(N,)``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
import torch.nn.functional as F

from seqrec_bench.training.precision import autocast_disabled, autocast_dtype

__all__ = [
    "full_softmax_loss",
    "ce_chunk_rows",
    "CPU_CACHE_BYTES",
    "CPU_CHUNK_BYTES",
    "CUDA_CHUNK_BYTES",
    "bce_loss",
    "sampled_softmax_loss",
    "sample_negatives",
]


#: The size of one chunk of the full-softmax loss on the CPU (bytes, its logits and their
#: log-softmax together). Each of the two buffers stays under glibc's 32 MB mmap threshold, so
#: it is reused from the heap instead of page-faulted in anew every chunk; and chunks are not
#: smaller than that because every chunk costs a dozen parallel regions, whose barriers are
#: expensive when the cores are shared with other work (measured, ``benchmarks/README.md``).
CPU_CACHE_BYTES = 60 << 20
#: The most logits the full-softmax loss holds at once on the CPU (bytes; the 256-row floor
#: of a chunk gives way to it on catalogues of over a million items). ``SEQBENCH_CE_CHUNK_MB``
#: overrides both.
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

    Equal to ``F.cross_entropy(hidden @ item_embeddings.T, targets - 1)`` up to float rounding,
    computed by a fused function that never holds the ``(N, n_items)`` logits: it takes the
    positions in chunks of rows, turns each chunk's logits into their gradient (one fused
    log-softmax) and multiplies that into the gradients of the hidden states and of the item
    embeddings straight away. Peak memory is ``O(chunk x n_items)`` instead of ``O(N x n_items)`` (15 GB at 100k
    items and 25,600 positions; 1.05 GB instead of 6.3 GB of RSS for a training step at the
    ML-20M shape), at the speed of the single buffer on the CPU (``benchmarks/README.md``).

    On CUDA, ``SEQBENCH_CE_KERNEL=cce`` uses Apple's ``cut-cross-entropy`` fused kernel
    (``pip install cut-cross-entropy``) when it imports, and this function otherwise (a warning
    says so once). It is opt-in: a benchmark's numbers must not depend on whether an optional
    package happens to be installed.

    Args:
        chunk_rows: positions per chunk; ``None`` chooses from the memory budget (and allows
            the fused kernel).

    Example:
        >>> h, emb = torch.zeros(3, 4), torch.zeros(5, 4)
        >>> round(float(full_softmax_loss(h, emb, torch.tensor([1, 2, 5]))), 4)  # log(5)
        1.6094
    """
    if len(targets) == 0:
        return (hidden.sum() + item_embeddings.sum()) * 0.0
    fused = _fused_kernel(hidden) if chunk_rows is None else None
    if fused is not None:
        return fused(hidden, item_embeddings, targets - 1, reduction="mean")
    rows = chunk_rows or ce_chunk_rows(item_embeddings.shape[0], hidden.device)
    if not torch.is_grad_enabled():
        # no gradient wanted: the function then skips computing them in its forward pass
        hidden, item_embeddings = hidden.detach(), item_embeddings.detach()
    return _LinearCrossEntropy.apply(hidden, item_embeddings, targets - 1, int(rows))


_FUSED_WARNED: set[str] = set()


def _fused_kernel(hidden: torch.Tensor) -> Any | None:
    """``cut_cross_entropy.linear_cross_entropy`` when asked for and usable, else ``None``."""
    choice = os.environ.get("SEQBENCH_CE_KERNEL", "").strip().lower()
    if choice in ("", "chunked"):
        return None
    reason = None
    if choice != "cce":
        reason = f"unknown SEQBENCH_CE_KERNEL={choice!r} (cce or chunked)"
    elif not hidden.is_cuda:
        reason = "cut-cross-entropy runs on CUDA only"
    else:
        try:
            from cut_cross_entropy import linear_cross_entropy
        except ImportError as exc:
            reason = f"cut-cross-entropy does not import ({exc})"
        else:
            return linear_cross_entropy
    if reason not in _FUSED_WARNED:
        _FUSED_WARNED.add(reason)
        warnings.warn(f"{reason}: the chunked full-softmax loss is used", stacklevel=3)
    return None


def ce_chunk_rows(n_items: int, device: str | torch.device = "cpu") -> int:
    """Positions per chunk of the full-softmax loss for ``n_items`` items on ``device``.

    On the CPU, chunks of about :data:`CPU_CACHE_BYTES` (at least 256 rows, so that the
    item-gradient products stay efficient; at most :data:`CPU_CHUNK_BYTES`). On CUDA, one
    chunk up to :data:`CUDA_CHUNK_BYTES` or a quarter of the free device memory, whichever is
    smaller (a GPU prefers few large products). A position costs about 8 bytes per item (the
    fp32 logits and their log-softmax), 10 under autocast (the bf16/fp16 product before it).

    Example:
        >>> ce_chunk_rows(3_416)
        2240
    """
    device = torch.device(device)
    per_item = 8  # the fp32 logits and their log-softmax
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
        if env:
            budget = int(float(env) * 2**20)
        else:
            fits = CPU_CHUNK_BYTES // max(1, per_item * int(n_items))
            budget = min(fits, max(256, CPU_CACHE_BYTES // max(1, per_item * int(n_items))))
            budget *= per_item * int(n_items)
    rows = budget // max(1, per_item * int(n_items))
    # multiples of 64 rows keep the matrix products on their fast paths; a catalogue too large
    # for 64 rows in the budget gets fewer rather than more memory
    return rows // 64 * 64 if rows >= 64 else max(1, rows)


class _LinearCrossEntropy(torch.autograd.Function):
    """``mean_i -log softmax(h_i E^T)[t_i]`` over row chunks, gradients accumulated chunk by chunk.

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
            idx = torch.arange(len(c), device=logits.device)
            # one fused pass for the log-softmax (faster than a max/sub/exp/sum sequence)
            log_probs = torch.log_softmax(logits, dim=1)
            del logits
            total -= log_probs[idx, c].sum()
            if not (need_h or need_w):
                continue
            # d loss / d logits = (softmax - onehot) / n; the 1 / n scales the small products
            grad = log_probs.exp_()
            grad[idx, c] -= 1.0
            grad = grad.to(dt)
            with autocast_disabled(hidden.device.type):  # products in dt, whatever the context
                if grad_hidden is not None:
                    out = grad_hidden[start : start + rows]
                    torch.mm(grad, weight_mm, out=out)
                    out.div_(n)
                if grad_weight is not None:
                    grad_weight.addmm_(grad.T, h.to(dt), alpha=1.0 / n)
            del log_probs, grad
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
