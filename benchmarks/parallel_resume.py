"""``--jobs 2`` against ``--jobs 1``, and a SIGKILL of the driver mid-grid, on one grid.

Runs the same ``seqbench run`` three ways into fresh folders under ``--workdir``:

1. ``--jobs 1`` (cells one after another, in-process);
2. ``--jobs 2`` (two worker processes);
3. ``--jobs 2`` killed with SIGKILL as soon as ``--kill-after`` cells are stored, then the same
   command again (it must resume: skip the stored cells, train the rest);

and prints both wall times, whether every cell's per-user ranks, the metrics and the p-values are
identical across the three folders, and whether the resumed table equals the uninterrupted one.
Every run uses the same ``--threads`` (default 1), which is what makes the numbers comparable:
a cell's numbers depend on its thread count, not on how many cells run beside it.

Usage::

    python benchmarks/parallel_resume.py                       # transformer, gru, markov x 2 seeds
    python benchmarks/parallel_resume.py --synthetic n_users=2000 --workdir /tmp/pr
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
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], what: str) -> str:
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"{what} failed (exit {proc.returncode}):\n{err[-3000:]}")
    return err


def ranks(folder: Path) -> dict[tuple[str, str, int], list[int]]:
    return {(c.dataset, c.label, c.seed): c.ranks.tolist() for c in ResultsDir(folder).scan()[0]}


def table_lines(folder: Path) -> list[str]:
    # the provenance line names commits and may differ; everything else must not
    text = (folder / "table.md").read_text()
    return [line for line in text.splitlines() if "provenance" not in line]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--models", default="transformer,gru,markov")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--synthetic", action="append", default=[], help="KEY=VALUE (repeatable)")
    ap.add_argument("--workdir", type=Path, default=Path("results/_scratch/parallel_resume"))
    ap.add_argument("--kill-after", type=int, default=1, help="stored cells before the SIGKILL")
    args = ap.parse_args()

    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "SEQBENCH_PROGRESS": "0"}
    common = ["run", "--models", args.models, "--dataset", "synthetic", "--seeds", args.seeds]
    common += ["--threads", args.threads]
    for opt in args.synthetic:
        common += ["--synthetic", opt]

    walls = {}
    for jobs in ("1", "2"):
        t0 = time.perf_counter()
        finish(
            seqbench([*common, "--jobs", jobs, "-o", str(work / f"jobs{jobs}")], env),
            f"--jobs {jobs}",
        )
        walls[jobs] = time.perf_counter() - t0
        print(f"--jobs {jobs}: {walls[jobs]:.1f} s wall", flush=True)

    killed = work / "killed"
    proc = seqbench([*common, "--jobs", "2", "-o", str(killed)], env)
    while (
        proc.poll() is None
        and len(list(killed.glob("cells/*/*/*/seed-*/cell.json"))) < args.kill_after
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = len(ResultsDir(killed).scan()[0])
    total = len(ranks(work / "jobs1"))
    print(f"SIGKILL of the driver with {stored} of {total} cells stored", flush=True)
    dry = subprocess.run(
        [sys.executable, "-m", "seqrec_bench.cli", *common, "--jobs", "2", "-o", str(killed), "--dry-run"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    print(dry.stdout, end="", flush=True)
    t0 = time.perf_counter()
    err = finish(seqbench([*common, "--jobs", "2", "-o", str(killed)], env), "the resumed run")
    print(
        f"resumed: {err.count('already complete')} cells skipped, the rest trained in "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )

    r1, r2, rk = ranks(work / "jobs1"), ranks(work / "jobs2"), ranks(killed)
    s1, s2, sk = (
        json.loads((work / d / "summary.json").read_text()) for d in ("jobs1", "jobs2", "killed")
    )
    print(
        f"cells: {len(r1)}; per-user ranks --jobs 2 == --jobs 1: {r1 == r2}; resumed == uninterrupted: {rk == r2}"
    )
    print(f"metrics equal: {s1['models'] == s2['models'] == sk['models']}; "
          f"p-values equal: {s1['comparisons'] == s2['comparisons'] == sk['comparisons']}")  # fmt: skip
    print(
        f"resumed table == uninterrupted table: {table_lines(killed) == table_lines(work / 'jobs2')}"
    )
    print(
        f"wall: --jobs 1 {walls['1']:.1f} s, --jobs 2 {walls['2']:.1f} s ({walls['1'] / walls['2']:.2f}x)"
    )
    print("\n".join(table_lines(work / "jobs2")))


if __name__ == "__main__":
    main()
