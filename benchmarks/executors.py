"""One grid on three executors: in-process, ``--jobs 2`` and ``--executor ray``; then faults.

Runs ``seqbench run --models transformer,gru,markov --dataset synthetic --seeds 0,1,2`` (with
``--threads 1`` everywhere, so every cell computes the same numbers wherever it runs) into
fresh folders under ``--workdir`` with ``--executor local`` (one cell after another),
``--jobs 2`` and ``--executor ray`` (a local Ray cluster on this machine's cores), prints the
wall times and whether the three ``summary.json`` (metrics, p-values, CIs) and every per-user
rank are identical. Then, on a small grid, the fault injections under Ray: a worker killed
mid-cell (retried), a cell that raises (reported; the others stored), and the driver killed
mid-grid (the same command resumes).

Usage::

    python benchmarks/executors.py                                   # the full grid
    python benchmarks/executors.py --synthetic n_users=2000 --seeds 0,1 --workdir /tmp/ex
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from seqrec_bench.store import ResultsDir


def seqbench(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "seqrec_bench.cli", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def ranks(folder: Path) -> dict[tuple[str, int], list[int]]:
    return {(c.label, c.seed): c.ranks.tolist() for c in ResultsDir(folder).scan()[0]}


def last_lines(text: str, n: int = 4) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-n:])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--models", default="transformer,gru,markov")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--synthetic", action="append", default=[], help="KEY=VALUE (repeatable)")
    ap.add_argument("--workdir", type=Path, default=Path("results/_scratch/executors"))
    ap.add_argument("--skip-grid", action="store_true", help="only the fault injections")
    args = ap.parse_args()

    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "SEQBENCH_PROGRESS": "0"}
    data = ["--dataset", "synthetic", *[x for opt in args.synthetic for x in ("--synthetic", opt)]]
    grid = ["run", "--models", args.models, *data, "--seeds", args.seeds, "--threads", "1"]

    if not args.skip_grid:
        walls = {}
        for name, extra in (
            ("local", ["--executor", "local"]),
            ("jobs2", ["--jobs", "2"]),
            ("ray", ["--executor", "ray"]),
        ):
            t0 = time.perf_counter()
            proc = seqbench([*grid, *extra, "-o", str(work / name)], env)
            _, err = proc.communicate()
            walls[name] = time.perf_counter() - t0
            if proc.returncode:
                sys.exit(f"{name} failed:\n{err[-3000:]}")
            print(f"{' '.join(['seqbench', *grid, *extra])}: {walls[name]:.1f} s wall", flush=True)
        summaries = {n: json.loads((work / n / "summary.json").read_text()) for n in walls}
        rk = {n: ranks(work / n) for n in walls}
        print(f"cells: {len(rk['local'])}")
        print(
            f"summaries identical (metrics, p-values, CIs): {summaries['local'] == summaries['jobs2'] == summaries['ray']}"
        )
        print(f"per-user ranks identical: {rk['local'] == rk['jobs2'] == rk['ray']}")
        print(
            f"speed-up over local: --jobs 2 {walls['local'] / walls['jobs2']:.2f}x, ray {walls['local'] / walls['ray']:.2f}x"
        )
        table = (work / "ray" / "table.md").read_text()
        print("\n".join(line for line in table.splitlines() if line.startswith("|")))

    small = [
        "--dataset",
        "synthetic",
        "--synthetic",
        "n_users=1000",
        "--threads",
        "1",
        "--executor",
        "ray",
    ]
    tiny = ["--set", "transformer.hidden=16", "--set", "transformer.max_len=20"]

    # a worker killed mid-cell: Ray retries the task, the grid completes
    out = work / "worker-kill"
    proc = seqbench(
        ["run", "--models", "transformer", *small, *tiny, "--seeds", "0", "-o", str(out)], env
    )
    killed = None
    while proc.poll() is None and killed is None:
        pids = subprocess.run(
            ["pgrep", "-f", "ray::_cell_task"], capture_output=True, text=True
        ).stdout.split()
        if pids:
            time.sleep(3)
            os.kill(int(pids[0]), signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.2)
    _, err = proc.communicate()
    print(f"\nworker kill: SIGKILL of Ray worker {killed} mid-cell -> exit {proc.returncode}, "
          f"{len(ranks(out))} cell stored")  # fmt: skip
    print(last_lines(err, 3))

    # a cell that raises: reported with its error, the other cells complete and are stored
    out = work / "failing-cell"
    proc = seqbench(["run", "--models", "transformer,markov,pop", *small, *tiny, "--set", "transformer.lr=1e9",
                     "--seeds", "0", "-o", str(out)], env)  # fmt: skip
    _, err = proc.communicate()
    print(f"\nfailing cell: exit {proc.returncode}, stored {sorted(k[0] for k in ranks(out))}")
    print(last_lines(err, 2))

    # the driver killed mid-grid: the same command skips the stored cells and completes
    out, ref = work / "driver-kill", work / "driver-ref"
    cmd = ["run", "--models", "markov,pop", *small, "--seeds", "0,1,2,3", "--max-concurrent", "1"]
    proc = seqbench([*cmd, "-o", str(out)], env)
    while proc.poll() is None and not list(out.glob("cells/*/*/*/seed-*/cell.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run(["ray", "stop", "--force"], capture_output=True)  # the killed driver's cluster
    stored = len(ranks(out))
    again = seqbench([*cmd, "-o", str(out)], env)
    _, err = again.communicate()
    assert seqbench([*cmd, "-o", str(ref)], env).wait() == 0
    same = json.loads((out / "summary.json").read_text()) == json.loads(
        (ref / "summary.json").read_text()
    )
    print(
        f"\ndriver kill: SIGKILL with {stored} of 8 cells stored; rerun exit {again.returncode}, "
        f"{err.count('already complete')} skipped; summary == uninterrupted run's: {same}"
    )


if __name__ == "__main__":
    main()
