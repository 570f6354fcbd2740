"""Tiny synthetic data sets for model tests (no download, no fixtures needed).

Every generator is a pure function of its arguments (its own ``numpy`` generator, seeded), so
plugin authors get the same data in their own test suites as seqrec_bench does in its own.
"""

from __future__ import annotations

import numpy as np

from seqrec_bench.data.sequences import Sequences

__all__ = ["random_sequences", "cycle_sequences", "leak_probe_sequences", "sequence_stats"]


def random_sequences(
    n_users: int = 24,
    n_items: int = 20,
    *,
    min_length: int = 3,
    max_length: int = 10,
    seed: int = 0,
) -> Sequences:
    """Uniformly random sequences (repeats allowed) of ``min_length..max_length`` items.

    Example:
        >>> seqs = random_sequences(5, 8, seed=1)
        >>> len(seqs), seqs.n_items, int(seqs.lengths.min()) >= 3
        (5, 8, True)
    """
    if min_length < 1 or max_length < min_length:
        raise ValueError("need 1 <= min_length <= max_length")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_length, max_length + 1, size=n_users)
    items = rng.integers(1, n_items + 1, size=int(lengths.sum()))
    return Sequences.from_lengths(items, lengths, n_items)


def cycle_sequences(
    n_users: int = 200,
    n_items: int = 30,
    *,
    min_length: int = 5,
    max_length: int = 14,
    seed: int = 0,
) -> Sequences:
    """Users walking one fixed cycle from random starts: item ``i`` is followed by ``i + 1``.

    The planted pattern is learnable by any sequential model (the next item is a function of the
    last one) and invisible to popularity, so a sequential model should reach a high NDCG@10.

    Example:
        >>> cycle_sequences(2, 5, min_length=3, max_length=3, seed=0).to_lists()
        [[5, 1, 2], [4, 5, 1]]
    """
    rng = np.random.default_rng(seed)
    starts = rng.integers(n_items, size=n_users)
    lengths = rng.integers(min_length, max_length + 1, size=n_users)
    steps = np.concatenate([np.arange(n) for n in lengths]) if n_users else np.zeros(0, np.int64)
    items = (np.repeat(starts, lengths) + steps) % n_items + 1
    return Sequences.from_lengths(items, lengths, n_items)


def leak_probe_sequences(
    n_users: int = 32,
    n_common: int = 16,
    n_cold: int = 4,
    *,
    max_train_length: int = 8,
    seed: int = 0,
) -> Sequences:
    """Sequences whose last (test) item occurs nowhere else, to catch test-target leakage.

    User ``u`` has 1..``max_train_length`` training items and one validation item, all drawn
    from the ``n_common`` items ``1..n_common``, then the test item ``n_common + 1 + u``, unique
    to that user. ``n_cold`` more items at the end of the catalogue never occur at all (a model
    must still give them finite scores). So ``n_items = n_common + n_users + n_cold``, and the
    test items are exactly ``n_common + 1 .. n_common + n_users``.

    Example:
        >>> seqs = leak_probe_sequences(3, 4, 1, max_train_length=2, seed=0)
        >>> seqs.n_items, seqs.last(1).tolist()
        (8, [5, 6, 7])
    """
    rng = np.random.default_rng(seed)
    prefix = rng.integers(1, max_train_length + 1, size=n_users) + 1  # train + validation
    common = rng.integers(1, n_common + 1, size=int(prefix.sum()))
    test_items = n_common + 1 + np.arange(n_users)
    rows = Sequences.from_lengths(common, prefix, n_common + n_users + n_cold)
    return rows.append(test_items)


def sequence_stats(sequences: Sequences) -> dict:
    """The subset of dataset statistics models read in ``default_config`` (``length.median``...).

    Example:
        >>> sequence_stats(Sequences.from_lists([[1, 2, 3], [1]], n_items=3))["length"]["median"]
        2.0
    """
    lengths = sequences.lengths
    return {
        "users": int(sequences.n_users),
        "items": int(sequences.n_items),
        "interactions": int(lengths.sum()),
        "length": {
            "min": int(lengths.min()) if len(lengths) else 0,
            "median": float(np.median(lengths)) if len(lengths) else 0.0,
            "mean": float(lengths.mean()) if len(lengths) else 0.0,
            "max": int(lengths.max()) if len(lengths) else 0,
        },
    }
