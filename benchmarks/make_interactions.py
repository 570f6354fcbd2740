"""Write a synthetic interaction log shaped like MovieLens, for the loading benchmarks.

The records are grouped by user (as in the GroupLens files) with timestamps in random order
inside each user, so the loader really has to sort; about a fifth of a user's records share a
timestamp with another one, so the tie handling is exercised too. Item popularity is Zipf-like.

Usage::

    python benchmarks/make_interactions.py out.dat --rows 1000000 --sep '::'
    python benchmarks/make_interactions.py out.csv --rows 20000000 --sep , --header \\
        --users 138493 --items 26744 --half-stars
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["make_interactions"]

_CHUNK_ROWS = 2_000_000


def make_interactions(
    path: str | Path,
    rows: int,
    *,
    sep: str = "::",
    header: bool = False,
    users: int = 6040,
    items: int = 3706,
    half_stars: bool = False,
    seed: int = 0,
) -> Path:
    """Write ``rows`` records ``user<sep>item<sep>rating<sep>timestamp`` to ``path``.

    Args:
        path: output file (written to a temporary name, then renamed).
        rows: number of records.
        sep: field separator (``"::"``, ``","``, ``"\\t"``).
        header: write ``userId,movieId,rating,timestamp`` (joined with ``sep``) first.
        users: number of users (each gets at least 20 records when ``rows`` allows).
        items: number of items.
        half_stars: ratings 0.5..5.0 in half steps (ml-20m) instead of 1..5 (ml-1m).
        seed: seed of the generator.

    Returns:
        ``path``.
    """
    rng = np.random.default_rng(seed)
    path = Path(path)
    # per-user counts: heavy-tailed like MovieLens, at least min(20, rows // users) each
    floor = min(20, rows // users)
    weights = rng.lognormal(0.0, 1.0, size=users)
    extra = rng.multinomial(rows - floor * users, weights / weights.sum())
    counts = floor + extra
    user_col = np.repeat(np.arange(1, users + 1, dtype=np.int64), counts)

    pop = 1.0 / np.arange(1, items + 1) ** 0.9
    cdf = np.cumsum(pop[rng.permutation(items)])
    item_col = np.searchsorted(cdf, rng.random(rows) * cdf[-1], side="right") + 1
    item_col = np.minimum(item_col, items)

    start = rng.integers(956_703_932, 1_400_000_000, size=users)
    # 1/5 of the steps are 0 seconds: ties on (user, timestamp), as in real logs
    steps = np.where(rng.random(rows) < 0.2, 0, rng.integers(1, 3600, size=rows))
    elapsed = np.cumsum(steps)
    first = np.minimum(np.cumsum(counts) - counts, rows - 1)  # each user's first row
    ts_col = np.repeat(start - (elapsed[first] - steps[first]), counts) + elapsed
    # shuffle the order inside each user (stable by user) so that loading must sort
    order = np.lexsort((rng.random(rows), user_col))
    ts_col = ts_col[order]
    if half_stars:
        rating_col = rng.integers(1, 11, size=rows) / 2.0
    else:
        rating_col = rng.integers(1, 6, size=rows)

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        with open(tmp_name, "w", newline="") as fh:
            if header:
                fh.write(sep.join(["userId", "movieId", "rating", "timestamp"]) + "\n")
            # pandas writes a one-character separator; "::" is written as ":" between empty
            # columns, which is exactly the same text
            one_char = ":" if sep == "::" else sep
            for lo in range(0, rows, _CHUNK_ROWS):
                hi = min(lo + _CHUNK_ROWS, rows)
                cols: dict[str, np.ndarray] = {
                    "u": user_col[lo:hi],
                    "i": item_col[lo:hi],
                    "r": rating_col[lo:hi],
                    "t": ts_col[lo:hi],
                }
                if sep == "::":
                    empty = np.full(hi - lo, "", dtype=object)
                    cols = {
                        "u": cols["u"],
                        "a": empty,
                        "i": cols["i"],
                        "b": empty,
                        "r": cols["r"],
                        "c": empty,
                        "t": cols["t"],
                    }
                pd.DataFrame(cols).to_csv(fh, sep=one_char, header=False, index=False)
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sep", default="::")
    parser.add_argument("--header", action="store_true")
    parser.add_argument("--users", type=int, default=6040)
    parser.add_argument("--items", type=int, default=3706)
    parser.add_argument("--half-stars", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    sep = "\t" if args.sep in ("\\t", "tab") else args.sep
    make_interactions(
        args.path,
        args.rows,
        sep=sep,
        header=args.header,
        users=args.users,
        items=args.items,
        half_stars=args.half_stars,
        seed=args.seed,
    )
    print(f"wrote {args.rows:,} rows to {args.path} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
