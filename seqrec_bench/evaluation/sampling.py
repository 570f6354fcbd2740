"""Negative sampling for the legacy sampled protocols (PROTOCOL §3).

Negatives depend only on (dataset, user, seed): they are drawn once per evaluation set from a
generator seeded with those, so every model is ranked against the same items. The generator is
the ``valid_negatives`` or ``test_negatives`` stream of the seed (:mod:`seqrec_bench.seeding`),
keyed further by the data set and the sampling kind, so it shares nothing with a model's
training streams or with the other evaluation set.
"""

from __future__ import annotations

import hashlib

import numpy as np

from seqrec_bench.data.sequences import Sequences
from seqrec_bench.seeding import numpy_generator

__all__ = ["sample_negatives", "PROTOCOLS", "parse_protocol"]

PROTOCOLS = ("full", "sampled-uniform-100", "sampled-pop-100")


def parse_protocol(protocol: str) -> tuple[str, int]:
    """``"full"`` -> ``("full", 0)``; ``"sampled-pop-100"`` -> ``("pop", 100)``."""
    if protocol == "full":
        return "full", 0
    parts = protocol.split("-")
    if (
        len(parts) == 3
        and parts[0] == "sampled"
        and parts[1] in ("uniform", "pop")
        and parts[2].isdigit()
    ):
        n = int(parts[2])
        if n >= 1:
            return parts[1], n
    raise ValueError(
        f"unknown protocol {protocol!r}; valid: full, sampled-uniform-N, sampled-pop-N (e.g. sampled-pop-100)"
    )


#: The random stream of each evaluation set (``salt``).
_SALT_PURPOSES = {"valid": "valid_negatives", "test": "test_negatives"}


def _generator(dataset_key: str, seed: int, kind: str, salt: str) -> np.random.Generator:
    """The ``salt`` set's negatives stream of ``seed``, keyed by the data set and the kind."""
    try:
        purpose = _SALT_PURPOSES[salt]
    except KeyError:
        raise ValueError(
            f"salt must be one of {', '.join(_SALT_PURPOSES)} (the evaluation set), not {salt!r}"
        ) from None
    digest = hashlib.sha256(f"{dataset_key}|{kind}".encode()).digest()
    return numpy_generator(seed, purpose, *np.frombuffer(digest[:16], dtype=np.uint32).tolist())


def sample_negatives(
    exclude: Sequences,
    n: int,
    *,
    kind: str = "uniform",
    popularity: np.ndarray | None = None,
    seed: int = 0,
    dataset_key: str = "",
    salt: str = "test",
) -> np.ndarray:
    """Draw ``n`` distinct negatives per user from items not in that user's ``exclude`` sequence.

    Args:
        exclude: per-user items that may not be drawn (the user's whole sequence, targets included).
        n: negatives per user.
        kind: ``"uniform"`` or ``"pop"`` (proportional to ``popularity``).
        popularity: training counts of length ``n_items + 1`` (index 0 ignored), for ``"pop"``.
        seed, dataset_key: what the draw depends on.
        salt: which evaluation set the negatives are for, ``"valid"`` or ``"test"``; each has
            its own random stream.

    Returns:
        ``(n_users, n)`` int64 item ids.
    """
    n_items = exclude.n_items
    n_users = exclude.n_users
    distinct = np.zeros(n_users, dtype=np.int64)
    if len(exclude.items):
        keys = np.unique(exclude.user_index() * (n_items + 1) + exclude.items)
        distinct = np.bincount(keys // (n_items + 1), minlength=n_users)
    else:
        keys = np.zeros(0, dtype=np.int64)
    if n_users and (n_items - distinct).min() < n:
        worst = int(np.argmax(distinct))
        raise ValueError(
            f"cannot draw {n} negatives for user row {worst}: only {n_items - int(distinct[worst])} "
            "unseen items; use a smaller N or the full protocol"
        )
    if kind == "uniform":
        probs = None
    elif kind == "pop":
        if popularity is None:
            raise ValueError("popularity sampling needs item popularity")
        weights = np.asarray(popularity[1:], dtype=np.float64) + 1e-12
        probs = weights / weights.sum()
    else:
        raise ValueError(f"unknown negative sampling kind {kind!r}")
    rng = _generator(dataset_key, seed, kind, salt)
    out = np.zeros((n_users, n), dtype=np.int64)
    filled = np.zeros(n_users, dtype=np.int64)
    todo = np.arange(n_users)
    width = 2 * n + 8
    while len(todo):
        cand = rng.choice(n_items, size=(len(todo), width), p=probs) + 1
        ok = ~np.isin(todo[:, None] * (n_items + 1) + cand, keys)
        # drop repeats within a row (keep the first occurrence)
        order = np.argsort(cand, axis=1, kind="stable")
        sorted_c = np.take_along_axis(cand, order, axis=1)
        dup_sorted = np.zeros_like(ok)
        dup_sorted[:, 1:] = sorted_c[:, 1:] == sorted_c[:, :-1]
        dup = np.zeros_like(ok)
        np.put_along_axis(dup, order, dup_sorted, axis=1)
        ok &= ~dup
        for row_pos, user in enumerate(todo):  # per-user only, never per interaction
            good = cand[row_pos][ok[row_pos]]
            # also drop what this user already got in an earlier round
            good = good[~np.isin(good, out[user, : filled[user]])]
            take = min(n - filled[user], len(good))
            out[user, filled[user] : filled[user] + take] = good[:take]
            filled[user] += take
        todo = np.flatnonzero(filled < n)
        width = max(width, 4 * n)
    return out
