"""Loading speed and memory: ``load_dataset`` on generated MovieLens-shaped files, cache off.

Targets (the data layer's brief):

* a 1M-row ``::`` file (ml-1m shape): load + preprocess in <= 3 s;
* a 20M-row CSV with header (ml-20m shape): <= 60 s with peak RSS <= 4 GB;
* a second, cached load of the 1M-row file: well under a second (target <= 0.5 s).

Each case runs in a fresh Python process, so its peak RSS (``resource.getrusage``) is its own.
The timed part is the ``load_dataset`` call (hashing, parsing, preprocessing, statistics); the
import of the package is reported separately. Input files are generated once with
``make_interactions.py`` into ``$SEQBENCH_BENCH_DATA`` (default: a folder in the system temp dir)
and reused.

Usage::

    python benchmarks/bench_load.py            # both cases
    python benchmarks/bench_load.py --quick    # the 1M-row cases only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_interactions import make_interactions  # noqa: E402

CASES = [
    {
        "label": "1M rows, '::' (ml-1m shape)",
        "file": "bench-1m.dat",
        "rows": 1_000_000,
        "make": {"sep": "::", "header": False, "users": 6040, "items": 3706},
        "target_s": 3.0,
        "target_rss_gb": None,
    },
    {
        "label": "1M rows, '::', second load from the cache",
        "file": "bench-1m.dat",
        "rows": 1_000_000,
        "make": {"sep": "::", "header": False, "users": 6040, "items": 3706},
        "cached": True,
        "target_s": 0.5,
        "target_rss_gb": None,
    },
    {
        "label": "20M rows, CSV with header (ml-20m shape)",
        "file": "bench-20m.csv",
        "rows": 20_000_000,
        "make": {"sep": ",", "header": True, "users": 138_493, "items": 26_744, "half_stars": True},
        "target_s": 60.0,
        "target_rss_gb": 4.0,
    },
]

_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from seqrec_bench.data import load_dataset
t1 = time.perf_counter()
cache = sys.argv[2] == "cache"
if cache:  # the first load fills the prepared-data cache; the timed one reads it
    load_dataset(sys.argv[1], progress=False)
t2 = time.perf_counter()
ds = load_dataset(sys.argv[1], cache=cache, progress=False)
t3 = time.perf_counter()
print(json.dumps({
    "import_s": t1 - t0,
    "load_s": t3 - t2,
    "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    "users": ds.stats["users"], "items": ds.stats["items"],
    "interactions": ds.stats["interactions"],
}))
"""


def bench_dir() -> Path:
    env = os.environ.get("SEQBENCH_BENCH_DATA")
    return Path(env) if env else Path(tempfile.gettempdir()) / "seqrec_bench_bench"


def run_case(case: dict) -> dict:
    path = bench_dir() / case["file"]
    if not path.exists():
        t0 = time.perf_counter()
        print(f"generating {path} ({case['rows']:,} rows) ...", flush=True)
        make_interactions(path, case["rows"], **case["make"])
        print(f"  done in {time.perf_counter() - t0:.0f}s", flush=True)
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {**os.environ, "SEQBENCH_DATA": cache_dir}
        mode = "cache" if case.get("cached") else "no-cache"
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), mode],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
    if out.returncode != 0:
        raise SystemExit(f"{case['label']} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description="load_dataset speed and peak memory")
    parser.add_argument("--quick", action="store_true", help="only the 1M-row cases")
    args = parser.parse_args()
    cases = [c for c in CASES if c["rows"] <= 1_000_000] if args.quick else CASES
    missed = 0
    for case in cases:
        res = run_case(case)
        ok = res["load_s"] <= case["target_s"]
        if case["target_rss_gb"] is not None:
            ok &= res["peak_rss_gb"] <= case["target_rss_gb"]
        missed += not ok
        target = f"<= {case['target_s']:g} s" + (
            f", <= {case['target_rss_gb']:g} GB" if case["target_rss_gb"] else ""
        )
        print(
            f"{case['label']}: load {res['load_s']:.2f} s, peak RSS {res['peak_rss_gb']:.2f} GB "
            f"(import {res['import_s']:.2f} s; {res['users']:,} users, {res['items']:,} items, "
            f"{res['interactions']:,} interactions) target {target}: "
            f"{'ok' if ok else 'MISSED'}",
            flush=True,
        )
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
