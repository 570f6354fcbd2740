"""The benchmark suite: ``python -m benchmarks [--quick] [--device cuda]``.

Rows (synthetic data of the stated shapes, generated in memory; nothing is downloaded or kept):

* ``load``: ``load_dataset`` of a 1M-row ``::`` file (ML-1M shape) and a 20M-row CSV (ML-20M
  shape), cache off (files from ``make_interactions.py`` in ``$SEQBENCH_BENCH_DATA``);
* ``train``: one epoch of the transformer with the ``ce`` and the ``sampled`` loss and of the
  GRU, at the ML-1M shape (6,040 users, 3,416 items, mean length 165, ``max_len`` 200) and the
  Amazon shape (22,363 users, 12,101 items, mean length 8.9, ``max_len`` 50); hidden 64;
* ``eval``: full ranking (seen items excluded) of the transformer at both shapes and at the
  ML-20M shape (138,493 users, 26,744 items, mean length 144, ``max_len`` 200);
* ``pop`` / ``markov``: fit and full ranking at the ML-20M shape.

Each row reports seconds, its rate (rows, tokens or users per second), the peak RSS sampled
during the row (and on CUDA the peak allocated device memory), and for training and
evaluation the achieved FLOP/s as a fraction of a **matmul roofline measured in the same
process**: a plain ``torch.mm`` of the row's dominant shape (the output layer:
``(positions or users) x hidden`` by ``hidden x items``) on the same device and dtype. The
FLOP counts are analytic (``train_flops`` / ``eval_flops``: matrix products only, attention
over each row's real items, no padding: useful work, x3 for a training step). Every row names
the device, torch version and threads; ``cpu s`` is the process's CPU time over all threads
(on a shared machine steadier than the wall time; wall-time rates are what the FLOP/s use).

``--quick`` runs a subset of users / steps of every row in well under a minute (the per-token
and per-user rates are what it measures; 20M-row loading is left out). Timings in tests are
not a thing: this is where they live.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: The shapes of the issue: users, items, mean length, max_len.
SHAPES: dict[str, dict[str, Any]] = {
    "ml-1m": {"users": 6040, "items": 3416, "mean_length": 165.0, "max_len": 200},
    "amazon": {"users": 22_363, "items": 12_101, "mean_length": 8.9, "max_len": 50},
    "ml-20m": {"users": 138_493, "items": 26_744, "mean_length": 144.0, "max_len": 200},
}
HIDDEN = 64


# -- data ------------------------------------------------------------------------------------
def make_sequences(shape: dict[str, Any], users: int | None = None, seed: int = 0) -> Any:
    """Random sequences of ``shape`` (geometric lengths >= 3 of the shape's mean; uniform items)."""
    from seqrec_bench.data import Sequences

    rng = np.random.default_rng(seed)
    n = shape["users"] if users is None else min(users, shape["users"])
    extra = max(shape["mean_length"] - 3.0, 1e-9)
    lengths = rng.geometric(1.0 / (extra + 1.0), size=n) + 2
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = rng.integers(1, shape["items"] + 1, size=int(offsets[-1]), dtype=np.int64)
    return Sequences(items, offsets, shape["items"])


# -- measuring -------------------------------------------------------------------------------
class Meter:
    """Wall time, peak RSS (sampled) and peak CUDA memory of a block."""

    def __init__(self, device: Any) -> None:
        self.device = device

    def __enter__(self) -> Meter:
        import torch

        from seqrec_bench.environment import PeakRSS

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self._rss = PeakRSS(interval=0.02).__enter__()
        self._c0 = time.process_time()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.seconds = time.perf_counter() - self._t0
        self.cpu_seconds = time.process_time() - self._c0
        self._rss.__exit__(*exc)
        self.rss_mb = self._rss.mb
        self.gpu_mb = (
            torch.cuda.max_memory_allocated(self.device) / 2**20
            if self.device.type == "cuda"
            else None
        )


_ROOFLINES: dict[tuple, float] = {}


def matmul_roofline(m: int, k: int, n: int, device: Any, dtype: Any) -> float:
    """FLOP/s of ``torch.mm((m, k), (k, n))`` on ``device`` in ``dtype`` (best of a few)."""
    import torch

    key = (m, k, n, str(device), str(dtype))
    if key in _ROOFLINES:
        return _ROOFLINES[key]
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(k, n, generator=gen).to(device=device, dtype=dtype)
    flops = 2.0 * m * k * n
    reps = max(1, min(50, int(2e10 / flops))) if device.type == "cuda" else max(1, int(2e9 / flops))
    best = math.inf
    for _ in range(3):
        torch.mm(a, b)  # warm-up (and allocator)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, (time.perf_counter() - t0) / reps)
    _ROOFLINES[key] = flops / best
    return _ROOFLINES[key]


def _block_flops(cfg: Any, width: np.ndarray) -> np.ndarray:
    """Matrix-product FLOPs of one position through the encoder, given its row's real width."""
    d = HIDDEN
    if hasattr(cfg, "n_blocks"):
        ffn = cfg.ffn_dim or d
        return cfg.n_blocks * (2 * d * 3 * d + 2 * d * d + 4 * d * ffn + 4 * width * d)
    return cfg.n_layers * 12 * d * d + 0 * width


def train_flops(model: str, loss: str, lengths: np.ndarray, items: int, cfg: Any) -> float:
    """Useful matrix-product FLOPs of one training epoch (forward x 3; no padding counted).

    ``lengths``: each user's kept items (``min(length, max_len + 1)``); a user contributes
    ``length - 1`` positions, each attending over its row's real items.
    """
    d = HIDDEN
    lengths = lengths[lengths >= 2].astype(np.float64)
    positions = lengths - 1
    out = cfg.n_negatives + 1 if model == "transformer" and loss == "sampled" else items
    per_row = positions * (_block_flops(cfg, positions) + 2 * d * out)
    return 3.0 * float(per_row.sum())


def eval_flops(lengths: np.ndarray, items: int, cfg: Any) -> float:
    """Useful matrix-product FLOPs of scoring every user (real positions + the item scores)."""
    d = HIDDEN
    width = lengths.astype(np.float64)
    return float((width * _block_flops(cfg, width) + 2 * d * items).sum())


def _amp_dtype(device: Any) -> Any:
    import torch

    try:
        from seqrec_bench.training.precision import resolve_amp
    except ImportError:  # an older checkout: bf16 on CUDA, fp32 elsewhere
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return resolve_amp("auto", device) or torch.float32


# -- rows ------------------------------------------------------------------------------------
def row_load(label: str, rows: int, make: dict, device: Any) -> dict:
    from make_interactions import make_interactions

    from seqrec_bench.data import load_dataset

    base = Path(
        os.environ.get("SEQBENCH_BENCH_DATA") or Path(tempfile.gettempdir()) / "seqrec_bench_bench"
    )
    path = base / f"suite-{rows}.{'csv' if make.get('sep') == ',' else 'dat'}"
    if not path.exists():
        make_interactions(path, rows, **make)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["SEQBENCH_DATA"] = cache
        with Meter(device) as m:
            load_dataset(path, cache=False, progress=False)
    return _row("load", label, m, rows, "rows/s", None, None)


def row_train(shape_name: str, model: str, loss: str, device: Any, users: int | None) -> dict:
    import torch

    from seqrec_bench.registry import get_model_class

    shape = SHAPES[shape_name]
    seqs = make_sequences(shape, users)
    cls = get_model_class(model)
    overrides: dict[str, Any] = {"max_len": shape["max_len"], "hidden": HIDDEN, "max_epochs": 1}
    if model == "transformer":
        overrides["loss"] = loss
    config = cls.config_cls(**{**_defaults(cls, shape), **overrides})
    net = cls(config)
    lengths = np.minimum(seqs.lengths, shape["max_len"] + 1)
    positions = int((lengths[lengths >= 2] - 1).sum())
    flops = train_flops(model, loss, lengths, shape["items"], config)
    with Meter(device) as m:
        net.fit(seqs, seed=0, device=str(device))
    epoch = float(net.history[-1]["seconds"])  # the epoch alone, without building the network
    # CPU time of the whole fit scaled to the epoch's share of its wall time
    m.cpu_seconds *= epoch / max(m.seconds, 1e-9)
    m.seconds = epoch
    dtype = _amp_dtype(device)
    rows_mm = min(positions, config.batch_size * shape["max_len"])
    roof = matmul_roofline(rows_mm, HIDDEN, shape["items"], device, dtype)
    name = f"{model} {loss}" if model == "transformer" else model
    del net
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return _row(
        "train", f"{name} @ {shape_name}", m, positions, "tokens/s", flops / epoch, roof, dtype
    )


def _defaults(cls: Any, shape: dict[str, Any]) -> dict[str, Any]:
    import dataclasses

    stats = {"length": {"median": shape["mean_length"]}}
    return dataclasses.asdict(cls.default_config(stats))


def row_eval(shape_name: str, model: str, device: Any, users: int | None) -> dict:
    import torch

    from seqrec_bench.evaluation import Evaluator
    from seqrec_bench.registry import get_model_class

    shape = SHAPES[shape_name]
    seqs = make_sequences(shape, users)
    rng = np.random.default_rng(1)
    targets = rng.integers(1, shape["items"] + 1, size=seqs.n_users)
    cls = get_model_class(model)
    fit_seconds = None
    if model in ("transformer", "gru"):
        config = cls.config_cls(
            **{
                **_defaults(cls, shape),
                "max_len": shape["max_len"],
                "hidden": HIDDEN,
                "max_epochs": 1,
            }
        )
        net = cls(config).fit(seqs.select(slice(0, 256)), seed=0, device=str(device))
    else:
        config = None
        t0 = time.perf_counter()
        net = cls().fit(seqs, seed=0, device=str(device))
        fit_seconds = time.perf_counter() - t0
    evaluator = Evaluator(seqs, targets, metrics=["NDCG@10"])
    # the timed pass is a second one, as every validation pass after a training run's first
    # (kernels loaded, allocator warm, whatever the evaluator keeps built)
    evaluator.evaluate(net)
    with Meter(device) as m:
        evaluator.evaluate(net)
    flops = roof = None
    dtype = torch.float32
    if config is not None:
        kept = np.minimum(seqs.lengths, shape["max_len"])
        flops = eval_flops(kept, shape["items"], config) / m.seconds
        roof = matmul_roofline(
            min(seqs.n_users, evaluator.batch_size), HIDDEN, shape["items"], device, dtype
        )
    row = _row(
        "eval",
        f"{model} full ranking @ {shape_name}",
        m,
        seqs.n_users,
        "users/s",
        flops,
        roof,
        dtype,
    )
    if fit_seconds is not None:
        row["detail"] = f"fit {fit_seconds:.2f}s on {int(seqs.lengths.sum()):,} interactions"
    return row


def _row(kind, label, m, count, unit, flops, roof, dtype=None) -> dict:
    import torch

    return {
        "kind": kind,
        "row": label,
        "seconds": m.seconds,
        # all threads' CPU time: on a shared machine the steadier of the two figures
        "cpu_seconds": m.cpu_seconds,
        "rate": count / m.seconds if m.seconds > 0 else float("nan"),
        "unit": unit,
        "count": count,
        "peak_rss_mb": m.rss_mb,
        "peak_gpu_mb": m.gpu_mb,
        "achieved_gflops": None if flops is None else flops / 1e9,
        "roofline_gflops": None if roof is None else roof / 1e9,
        "roofline_fraction": None if flops is None or roof is None else flops / roof,
        "dtype": None if dtype is None else str(dtype).replace("torch.", ""),
        "device": _device_name(m.device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "detail": "",
    }


def _device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def plan(quick: bool, device: Any) -> list[tuple[str, Callable[[], dict]]]:
    """The suite's rows as (label, thunk), smallest first."""
    # --quick: subsets of users (rates per token / per user are what is compared)
    train_users = {"ml-1m": 512, "amazon": 4096} if quick else {"ml-1m": None, "amazon": None}
    eval_users = (
        {"ml-1m": 2048, "amazon": None, "ml-20m": 4096}
        if quick
        else {"ml-1m": None, "amazon": None, "ml-20m": None}
    )
    base_users = 20_000 if quick else None
    rows: list[tuple[str, Callable[[], dict]]] = [
        ("load 1M", lambda: row_load("1M rows '::' (ML-1M)", 1_000_000,
                                     {"sep": "::", "header": False, "users": 6040, "items": 3706}, device)),
    ]  # fmt: skip
    if not quick:
        rows.append(
            ("load 20M", lambda: row_load("20M rows CSV (ML-20M)", 20_000_000,
                                          {"sep": ",", "header": True, "users": 138_493,
                                           "items": 26_744, "half_stars": True}, device))
        )  # fmt: skip
    for shape in ("ml-1m", "amazon"):
        for model, loss in (("transformer", "ce"), ("transformer", "sampled"), ("gru", "ce")):
            rows.append(
                (f"train {model} {loss} {shape}",
                 lambda s=shape, m=model, lo=loss: row_train(s, m, lo, device, train_users[s]))
            )  # fmt: skip
    for shape in ("ml-1m", "amazon", "ml-20m"):
        rows.append(
            (f"eval {shape}", lambda s=shape: row_eval(s, "transformer", device, eval_users[s]))
        )
    for model in ("pop", "markov"):
        rows.append((f"{model} ml-20m", lambda m=model: row_eval("ml-20m", m, device, base_users)))
    return rows


def render(rows: list[dict]) -> str:
    """The rows as a plain-text table."""
    head = ["row", "s", "cpu s", "rate", "peak MB", "GFLOP/s", "roof GFLOP/s", "frac", "device"]
    out = []
    for r in rows:
        mem = f"{r['peak_rss_mb']:.0f}" + (
            f" / {r['peak_gpu_mb']:.0f} GPU" if r.get("peak_gpu_mb") is not None else ""
        )
        out.append(
            [
                r["row"],
                f"{r['seconds']:.2f}",
                f"{r.get('cpu_seconds', float('nan')):.2f}",
                f"{r['rate']:,.0f} {r['unit']}",
                mem,
                "-" if r["achieved_gflops"] is None else f"{r['achieved_gflops']:.1f}",
                "-" if r["roofline_gflops"] is None else f"{r['roofline_gflops']:.1f} {r['dtype']}",
                "-" if r["roofline_fraction"] is None else f"{r['roofline_fraction']:.2f}",
                f"{r['device']}, torch {r['torch']}, {r['threads']} thr",
            ]
        )
    widths = [max(len(h), *(len(c[i]) for c in out)) if out else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in out]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="subsets of every row, < 1 minute")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", default="", help="comma list of substrings of row names")
    parser.add_argument("--jsonl", type=Path, default=None, help="also write one JSON row per line")
    args = parser.parse_args(argv)

    import torch

    from seqrec_bench.training import resolve_device

    os.environ.setdefault("SEQBENCH_PROGRESS", "0")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    results = []
    t0 = time.perf_counter()
    for label, thunk in plan(args.quick, device):
        if wanted and not any(w in label for w in wanted):
            continue
        row = thunk()
        results.append(row)
        print(f"  {label}: {row['seconds']:.2f}s", file=sys.stderr, flush=True)
        if args.jsonl:
            with args.jsonl.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    print(render(results))
    print(
        f"{'quick' if args.quick else 'full'} suite, {time.perf_counter() - t0:.0f}s; "
        f"device {_device_name(device)}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
