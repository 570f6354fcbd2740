"""Side by side with RecTools' SASRec: training epoch, validation pass and test NDCG@10.

Both libraries train the same SASRec shape (``max_len`` 200, hidden 64, 2 blocks, 2 heads,
batch 128, full-softmax loss, Adam at lr 1e-3, dropout 0.2) on the same users, items and
leave-one-out split, with the same number of CPU threads, for the same number of epochs.
Each side runs in its own child process; RecTools runs under its own interpreter
(``--rectools-python``) because it pins ``numpy<2`` and must not enter this project's
environment::

    python -m venv /tmp/rtvenv
    /tmp/rtvenv/bin/pip install "rectools[torch]==0.19.0" torch==<the torch of this venv>
    python benchmarks/bench_rectools.py --rectools-python /tmp/rtvenv/bin/python \\
        --data-dir ../shared/data --dataset ml-100k --epochs 30

What is measured, per side:

* **epoch**: wall seconds of one training epoch (the median over the epochs after the first;
  RecTools' from a Lightning callback at the epoch's start and end, so its per-``fit`` set-up
  is not counted against it);
* **validation pass**: wall seconds to rank the whole catalogue for every user with the
  training items excluded (RecTools: ``recommend(k=10, filter_viewed=True)``; seqbench: the
  harness's validation evaluator), the median over the epochs;
* **test NDCG@10** of the epoch with the best validation NDCG@10 (both sides select the epoch
  the same way; the test input is the training sequence plus the validation item, whose items
  are all excluded from the candidates).

This file's RecTools half imports neither seqrec_bench nor anything outside RecTools' own
environment: the data reach it as a CSV of ``user,item,pos`` written by the seqbench side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPE = {"max_len": 200, "hidden": 64, "n_blocks": 2, "n_heads": 2, "batch_size": 128}


def _ndcg10(ranks: list[int] | object) -> float:
    """Mean NDCG@10 of one target per user from its 1-based rank (0 = not in the top 10)."""
    import numpy as np

    r = np.asarray(ranks, dtype=float)
    gains = np.where((r >= 1) & (r <= 10), 1.0 / np.log2(np.maximum(r, 1) + 1), 0.0)
    return float(gains.mean())


# ---------------------------------------------------------------------------- seqbench side
def _export(args: argparse.Namespace, path: Path) -> dict:
    """Write the prepared data set as ``user,item,pos`` (pos: 0-based within the user)."""
    import numpy as np

    from seqrec_bench.data import load_dataset

    ds = load_dataset(args.dataset, data_dir=args.data_dir, progress=False)
    seqs = ds.sequences
    users = np.repeat(np.arange(seqs.n_users), seqs.lengths)
    pos = np.arange(len(seqs.items)) - np.repeat(seqs.offsets[:-1], seqs.lengths)
    with open(path, "w") as f:
        f.write("user,item,pos\n")
        np.savetxt(f, np.stack([users, seqs.items, pos], 1), fmt="%d", delimiter=",")
    return {"users": int(seqs.n_users), "items": int(seqs.n_items), "rows": int(len(seqs.items))}


def _seqbench(args: argparse.Namespace) -> dict:
    import dataclasses

    import torch

    from seqrec_bench.data import LeaveOneOutSplit, load_dataset
    from seqrec_bench.evaluation.evaluator import Evaluator
    from seqrec_bench.registry import get_model_class

    torch.set_num_threads(args.threads)
    ds = load_dataset(args.dataset, data_dir=args.data_dir, progress=False)
    split = LeaveOneOutSplit.from_sequences(ds.sequences)
    cls = get_model_class("transformer")
    config = dataclasses.replace(
        cls.default_config(ds.stats),
        **SHAPE,
        loss="ce",
        dropout=0.2,
        lr=1e-3,
        max_epochs=args.epochs,
        patience=args.epochs,  # the same epochs as RecTools; the best validation epoch is kept
        amp="off",
    )
    validator = Evaluator(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])
    model = cls(config).fit(split.train, seed=args.seed, device="cpu", validator=validator)
    test = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
    result = test.evaluate(model)
    epochs = [r["seconds"] for r in model.history]
    evals = [r["eval_seconds"] for r in model.history if "eval_seconds" in r]
    return {
        "side": "seqbench",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "epoch_seconds": epochs,
        "eval_seconds": evals,
        "valid_ndcg10": [r.get("NDCG@10") for r in model.history],
        "best_epoch": model.best_epoch,
        "test_ndcg10": result.metrics["NDCG@10"],
    }


# ---------------------------------------------------------------------------- RecTools side
def _rectools(args: argparse.Namespace) -> dict:
    import numpy as np
    import pandas as pd
    import torch
    from lightning_fabric import seed_everything
    from pytorch_lightning import Callback, Trainer
    from rectools import Columns
    from rectools.dataset import Dataset
    from rectools.models import SASRecModel
    from rectools.models.nn.item_net import IdEmbeddingsItemNet

    torch.set_num_threads(args.threads)
    seed_everything(args.seed, workers=True)
    df = pd.read_csv(args.csv)
    length = df.groupby("user")["pos"].transform("size")
    base = {
        Columns.User: df["user"],
        Columns.Item: df["item"],
        Columns.Weight: 1.0,
        Columns.Datetime: pd.to_datetime(df["pos"], unit="s"),
    }
    frame = pd.DataFrame(base)
    train = frame[df["pos"] < length - 2]
    train_valid = frame[df["pos"] < length - 1]
    valid_target = df[df["pos"] == length - 2].set_index("user")["item"]
    test_target = df[df["pos"] == length - 1].set_index("user")["item"]
    ds_train = Dataset.construct(train)
    ds_test = Dataset.construct(train_valid)
    users = valid_target.index.to_numpy()

    epoch_seconds: list[float] = []

    class EpochTimer(Callback):
        def on_train_epoch_start(self, trainer, pl_module):  # noqa: ANN001
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):  # noqa: ANN001
            epoch_seconds.append(time.perf_counter() - self.t0)

    def trainer() -> Trainer:
        return Trainer(
            max_epochs=1,
            min_epochs=1,
            accelerator="cpu",
            devices=1,
            enable_progress_bar=False,
            enable_model_summary=False,
            logger=False,
            enable_checkpointing=False,
            callbacks=[EpochTimer()],
        )

    model = SASRecModel(
        n_blocks=SHAPE["n_blocks"],
        n_heads=SHAPE["n_heads"],
        n_factors=SHAPE["hidden"],
        dropout_rate=0.2,
        session_max_len=SHAPE["max_len"],
        loss="softmax",
        lr=1e-3,
        batch_size=SHAPE["batch_size"],
        epochs=1,
        item_net_block_types=(IdEmbeddingsItemNet,),
        get_trainer_func=trainer,
        recommend_torch_device="cpu",
    )

    def ranks(dataset: Dataset, target: pd.Series) -> np.ndarray:
        reco = model.recommend(users, dataset, k=10, filter_viewed=True)
        hit = reco[reco[Columns.Item].to_numpy() == target.reindex(reco[Columns.User]).to_numpy()]
        rank = pd.Series(0, index=users)
        rank[hit[Columns.User].to_numpy()] = hit[Columns.Rank].to_numpy()
        return rank.to_numpy()

    eval_seconds, valid, test = [], [], []
    for _ in range(args.epochs):
        model.fit_partial(ds_train, min_epochs=1, max_epochs=1)
        t0 = time.perf_counter()
        valid.append(_ndcg10(ranks(ds_train, valid_target)))
        eval_seconds.append(time.perf_counter() - t0)
        test.append(_ndcg10(ranks(ds_test, test_target)))
    best = int(np.argmax(valid))
    import rectools

    return {
        "side": "rectools",
        "rectools": rectools.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "epoch_seconds": epoch_seconds,
        "eval_seconds": eval_seconds,
        "valid_ndcg10": valid,
        "best_epoch": best + 1,
        "test_ndcg10": test[best],
    }


# ---------------------------------------------------------------------------- orchestration
def _child(python: str, args: argparse.Namespace, side: str, csv: Path) -> dict:
    cmd = [python, os.path.abspath(__file__), "--side", side, "--csv", str(csv)]
    for name in ("dataset", "data_dir", "epochs", "threads", "seed"):
        value = getattr(args, name)
        if value is not None:
            cmd += [f"--{name.replace('_', '-')}", str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    if side == "rectools":
        # RecTools' interpreter must not see this project's packages
        env.pop("PYTHONPATH", None)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _steady(values: list[float]) -> float:
    """Median after the first value (the first epoch pays one-off warm-up)."""
    return statistics.median(values[1:] if len(values) > 1 else values)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rectools-python", help="the interpreter of a venv with rectools[torch]")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write both sides' records here")
    p.add_argument("--side", choices=["seqbench", "rectools"], help=argparse.SUPPRESS)
    p.add_argument("--csv", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.side:
        fn = _rectools if args.side == "rectools" else _seqbench
        print(json.dumps(fn(args)))
        return
    if not args.rectools_python:
        p.error("--rectools-python is required (see the module docstring)")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "interactions.csv"
        shape = _export(args, csv)
        print(f"{args.dataset}: {shape}", file=sys.stderr)
        ours = _child(sys.executable, args, "seqbench", csv)
        theirs = _child(args.rectools_python, args, "rectools", csv)
    rows = [
        ("epoch (s)", _steady(theirs["epoch_seconds"]), _steady(ours["epoch_seconds"])),
        ("validation pass (s)", _steady(theirs["eval_seconds"]), _steady(ours["eval_seconds"])),
    ]
    print(
        f"| {args.dataset}, {args.epochs} epochs, {args.threads} threads | RecTools "
        f"{theirs['rectools']} | seqbench | speed-up |"
    )
    print("| --- | --- | --- | --- |")
    for name, a, b in rows:
        print(f"| {name} | {a:.3f} | {b:.3f} | {a / b:.2f}x |")
    print(f"| best validation epoch | {theirs['best_epoch']} | {ours['best_epoch']} | |")
    print(
        f"| test NDCG@10 | {theirs['test_ndcg10']:.4f} | {ours['test_ndcg10']:.4f} | "
        f"{ours['test_ndcg10'] - theirs['test_ndcg10']:+.4f} |"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"rectools": theirs, "seqbench": ours}, indent=1))


if __name__ == "__main__":
    main()
