"""Negative sampling for the legacy sampled protocols (PROTOCOL §3).

Negatives depend only on (dataset, user, seed), so every model is ranked against the same items
and dropping or adding a user changes no other user's negatives. Each user has a stream of its
own:

* the ``valid_negatives`` or ``test_negatives`` stream of the seed (:mod:`seqrec_bench.seeding`),
  keyed further by the data set and the sampling kind, gives one 64-bit stream key, which
  shares nothing with a model's training streams or with the other evaluation set;
* a user's stream is a SplitMix64 sequence started at a hash of (stream key, user key); its
  ``j``-th value is a pure function of those and ``j`` (counter-based), so the draws of all
  users are computed at once, as numpy arrays, and none depends on another user.

The user key is a stable integer per user (:func:`stable_user_keys` of the raw user ids); the
dense row index is the fallback, which is stable only as long as the rows are (dropping a user
renumbers the rows after it, and so changes their draws).

A user's negatives are the first ``N`` distinct allowed items of its stream: uniform draws for
``sampled-uniform-N``, draws proportional to the training popularity for ``sampled-pop-N``
(inverse CDF), skipping items in the user's ``exclude`` sequence and items already drawn. That
is sequential sampling without replacement, restricted to the allowed items. The loop over
rounds of draws is bounded: a user not complete after a few rounds is completed exactly, in one
step (the same distribution: given the items drawn so far, the rest is a sample without
replacement from the remaining items), from keys over the whole catalogue: ``U`` (uniform) or
the exponential key ``-log(1 - U) / popularity`` (Efraimidis and Spirakis), the ``N`` smallest
of the allowed items. Under ``sampled-pop-N`` a user with fewer allowed items of positive
popularity than ``N`` first gets all of those (in popularity-weighted order), then uniformly
drawn allowed items of popularity zero: sampling never hangs, and fails (one line) only when
the user has fewer than ``N`` allowed items at all.

What the harness passes as ``exclude`` (PROTOCOL §3, see :func:`loo_negatives`):

* validation negatives: the training items and the validation target, never the test item:
  ``split.test_inputs`` (train + validation target);
* test negatives: the whole sequence (train + validation target + test target).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from seqrec_bench.data.sequences import Sequences
from seqrec_bench.errors import ConfigError
from seqrec_bench.seeding import seed_sequence

if TYPE_CHECKING:
    from seqrec_bench.data.split import LeaveOneOutSplit

__all__ = [
    "sample_negatives",
    "loo_negatives",
    "stable_user_keys",
    "PROTOCOLS",
    "parse_protocol",
]

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

# SplitMix64 constants (Steele, Lea and Flood 2014): the increment and the finaliser.
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
#: Domain tag of the one-step completion keys (independent of the sequential draws).
_DENSE_TAG = np.uint64(0xD1B54A32D192ED03)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
#: Rounds of sequential draws before a user is completed in one step.
_MAX_ROUNDS = 6
#: Elements of a (users x draws) block of draws, or a (users x items) block of the completion.
_BLOCK = 1 << 20


def _mix(z: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    z = (z ^ (z >> _S30)) * _C1
    z = (z ^ (z >> _S27)) * _C2
    return z ^ (z >> _S31)


def _uniform(bits: np.ndarray) -> np.ndarray:
    """uint64 -> float64 uniform in [0, 1) from the top 53 bits."""
    return (bits >> _S11).astype(np.float64) * (1.0 / (1 << 53))


def _stream_key(dataset_key: str, seed: int, kind: str, salt: str) -> np.uint64:
    """The ``salt`` set's negatives stream of ``seed``, keyed by the data set and the kind."""
    try:
        purpose = _SALT_PURPOSES[salt]
    except KeyError:
        raise ValueError(
            f"salt must be one of {', '.join(_SALT_PURPOSES)} (the evaluation set), not {salt!r}"
        ) from None
    digest = hashlib.sha256(f"{dataset_key}|{kind}".encode()).digest()
    words = np.frombuffer(digest[:16], dtype=np.uint32).tolist()
    return np.uint64(seed_sequence(seed, purpose, *words).generate_state(1, dtype=np.uint64)[0])


def stable_user_keys(user_ids: np.ndarray) -> np.ndarray:
    """A stable int64 key per user from raw user ids (``Vocabulary.user_ids``).

    Integer ids are their own keys; any other id is keyed by the first 8 bytes of the BLAKE2b
    digest of ``str(id)``. The key of a user does not depend on the other users, so it survives
    filtering, k-cores and reordering.

    Example:
        >>> stable_user_keys(np.array([7, 3])).tolist()
        [7, 3]
        >>> k = stable_user_keys(np.array(["ann", "bob"], dtype=object))
        >>> k.dtype.name, bool(k[0] != k[1]), bool(stable_user_keys(np.array(["bob"]))[0] == k[1])
        ('int64', True, True)
    """
    ids = np.asarray(user_ids)
    if ids.dtype.kind in "iu":
        return ids.astype(np.int64)
    blob = b"".join(
        hashlib.blake2b(str(v).encode("utf-8"), digest_size=8).digest() for v in ids.tolist()
    )
    return np.frombuffer(blob, dtype="<i8").astype(np.int64)


def _check_user_keys(user_keys: np.ndarray | None, n_users: int) -> np.ndarray:
    if user_keys is None:
        return np.arange(n_users, dtype=np.int64)
    keys = np.asarray(user_keys)
    if keys.shape != (n_users,) or keys.dtype.kind not in "iu":
        raise ConfigError(
            f"user_keys must be {n_users} integers (one per user row), got shape {keys.shape} "
            f"of {keys.dtype}"
        )
    keys = keys.astype(np.int64)
    if len(np.unique(keys)) != n_users:
        raise ConfigError("user_keys must be distinct (two users would share a negatives stream)")
    return keys


def _excluded_keys(exclude: Sequences) -> np.ndarray:
    """Sorted distinct ``row * (n_items + 1) + item`` of every excluded (user, item) pair."""
    if not len(exclude.items):
        return np.zeros(0, dtype=np.int64)
    keys = np.sort(exclude.user_index() * (exclude.n_items + 1) + exclude.items)
    keep = np.ones(len(keys), dtype=bool)
    keep[1:] = keys[1:] != keys[:-1]
    return keys[keep]


def _is_in(queries: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Membership of ``queries`` in ``sorted_keys`` (fastest when the queries are sorted too)."""
    if not len(sorted_keys):
        return np.zeros(queries.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return sorted_keys[pos] == queries


def _sequential_round(
    rows: np.ndarray,
    start: int,
    width: int,
    base: np.ndarray,
    to_item: Callable[[np.ndarray], np.ndarray],
    keys: np.ndarray,
    n_items: int,
    out: np.ndarray,
    filled: np.ndarray,
) -> None:
    """Draws ``start .. start + width - 1`` of ``rows`` (ascending); appends the allowed new ones
    to ``out``."""
    n = out.shape[1]
    j = np.arange(start + 1, start + width + 1, dtype=np.uint64)
    cand = to_item(_uniform(_mix(base[rows, None] + j[None, :] * _GAMMA)))
    # sort (item, position) codes per row, the items already taken first (0 = an empty slot):
    # a draw is skipped when it repeats a taken item or an earlier draw of the row, or when it
    # is excluded (looked up in sorted order: rows ascending, items ascending within a row)
    both = np.concatenate([out[rows], cand], axis=1)
    shift = np.int64(int(both.shape[1]).bit_length())
    code = np.sort((both << shift) | np.arange(both.shape[1], dtype=np.int64)[None, :], axis=1)
    item_sorted = code >> shift
    reject_sorted = np.zeros(code.shape, dtype=bool)
    reject_sorted[:, 1:] = item_sorted[:, 1:] == item_sorted[:, :-1]
    reject_sorted |= _is_in(rows[:, None] * (n_items + 1) + item_sorted, keys)
    reject = np.empty(code.shape, dtype=bool)
    reject[np.arange(len(rows))[:, None], code & ((np.int64(1) << shift) - 1)] = reject_sorted
    ok = ~reject[:, n:]
    rank = np.cumsum(ok, axis=1)
    need = n - filled[rows]
    take = ok & (rank <= need[:, None])
    r, c = np.nonzero(take)
    users = rows[r]
    out[users, filled[users] + rank[r, c] - 1] = cand[r, c]
    filled[rows] += np.minimum(rank[:, -1], need)


def _complete(
    rows: np.ndarray,
    base: np.ndarray,
    weights: np.ndarray | None,
    exclude: Sequences,
    out: np.ndarray,
    filled: np.ndarray,
) -> None:
    """Fill the remaining slots of ``rows`` in one step from keys over the whole catalogue."""
    n_items, n = exclude.n_items, out.shape[1]
    items = np.arange(1, n_items + 1, dtype=np.uint64)
    chunk = max(1, _BLOCK // max(n_items, 1))
    for lo in range(0, len(rows), chunk):
        block = rows[lo : lo + chunk]
        m = len(block)
        u = _uniform(_mix(_mix(base[block, None] ^ _DENSE_TAG) + items[None, :] * _GAMMA))
        blocked = np.zeros((m, n_items), dtype=bool)
        sub = exclude.select(block)
        blocked[sub.user_index(), sub.items - 1] = True
        taken = out[block]
        tr, tc = np.nonzero(taken)
        blocked[tr, taken[tr, tc] - 1] = True
        if weights is None:
            first = np.where(blocked, np.inf, u)
            second = None
        else:
            with np.errstate(divide="ignore"):
                first = np.where(blocked | (weights[None, :] <= 0), np.inf, -np.log1p(-u) / weights)
            second = np.where(blocked | (weights[None, :] > 0), np.inf, u)
        need = n - filled[block]
        picked = _smallest(first, n)
        n_first = np.minimum(np.isfinite(first).sum(axis=1), need)
        chosen = [(picked, n_first)]
        if second is not None and (n_first < need).any():
            chosen.append((_smallest(second, n), need - n_first))
        offset = filled[block].copy()
        for order, count in chosen:
            slot = np.arange(n)[None, :]
            take = slot < count[:, None]
            r, c = np.nonzero(take)
            out[block[r], offset[r] + c] = order[r, c] + 1
            offset += count
        filled[block] = offset


def _smallest(keys: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the ``n`` smallest keys of every row, smallest first."""
    if n < keys.shape[1]:
        part = np.argpartition(keys, n - 1, axis=1)[:, :n]
    else:
        part = np.broadcast_to(np.arange(keys.shape[1]), keys.shape).copy()
    order = np.argsort(np.take_along_axis(keys, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def sample_negatives(
    exclude: Sequences,
    n: int,
    *,
    kind: str = "uniform",
    popularity: np.ndarray | None = None,
    seed: int = 0,
    dataset_key: str = "",
    salt: str = "test",
    user_keys: np.ndarray | None = None,
) -> np.ndarray:
    """Draw ``n`` distinct negatives per user from items not in that user's ``exclude`` sequence.

    A user's negatives depend only on (``dataset_key``, ``kind``, ``seed``, ``salt``, its user
    key, its own ``exclude`` row, ``n``, the catalogue size and, for ``"pop"``, the popularity
    array), never on the other users (see the module docstring for the scheme).

    Args:
        exclude: per-user items that may not be drawn. Validation negatives: the training items
            and the validation target (``split.test_inputs``), never the test item; test
            negatives: the whole sequence. :func:`loo_negatives` passes both.
        n: negatives per user.
        kind: ``"uniform"`` or ``"pop"`` (proportional to ``popularity``; allowed items of
            popularity zero come after every allowed item of positive popularity, uniformly).
        popularity: training counts of length ``n_items + 1`` (index 0 ignored), for ``"pop"``.
        seed, dataset_key: what the draw depends on.
        salt: which evaluation set the negatives are for, ``"valid"`` or ``"test"``; each has
            its own random stream.
        user_keys: a stable distinct integer per row of ``exclude`` (e.g. ``stable_user_keys(
            vocab.user_ids)``); with them a user's negatives survive the dropping of other users.
            Default: the row index (stable only while the rows are).

    Returns:
        ``(n_users, n)`` int64 item ids, in draw order.

    Raises:
        ConfigError: a user has fewer than ``n`` items outside its ``exclude`` row (the message
            names the row and the counts), or ``user_keys`` / ``popularity`` do not fit.

    Example:
        >>> s = Sequences.from_lists([[1, 2], [3, 4, 5]], n_items=8)
        >>> negs = sample_negatives(s, 3, seed=1)
        >>> negs.shape, bool(set(negs[0].tolist()) & {1, 2}), len(set(negs[1].tolist()))
        ((2, 3), False, 3)
        >>> bool((sample_negatives(s.select([1]), 3, seed=1, user_keys=np.array([1]))
        ...       == negs[1]).all())
        True
    """
    n_items, n_users = exclude.n_items, exclude.n_users
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"the number of negatives must be a positive integer, got {n!r}")
    n = int(n)
    base_keys = _check_user_keys(user_keys, n_users)
    stream = _stream_key(dataset_key, seed, kind, salt)
    if kind == "uniform":
        weights = None
    elif kind == "pop":
        if popularity is None:
            raise ConfigError("popularity sampling needs item popularity")
        pop = np.asarray(popularity, dtype=np.float64)
        if pop.shape != (n_items + 1,) or not np.isfinite(pop).all() or (pop < 0).any():
            raise ConfigError(
                f"popularity must be {n_items + 1} finite non-negative counts (index 0 ignored), "
                f"got shape {pop.shape}"
            )
        weights = pop[1:]
    else:
        raise ConfigError(f"unknown negative sampling kind {kind!r}; valid: uniform, pop")

    keys = _excluded_keys(exclude)
    row_of = keys // (n_items + 1)
    allowed = n_items - np.bincount(row_of, minlength=n_users)
    if n_users and allowed.min() < n:
        worst = int(np.argmin(allowed))
        raise ConfigError(
            f"cannot draw {n} negatives for user row {worst}: only {int(allowed[worst])} of the "
            f"{n_items} items are not in its sequence; use a smaller N or the full protocol"
        )
    out = np.zeros((n_users, n), dtype=np.int64)
    if not n_users:
        return out
    filled = np.zeros(n_users, dtype=np.int64)
    base = _mix(stream ^ _mix(base_keys.view(np.uint64) + _GAMMA))

    if weights is None:

        def to_item(u: np.ndarray) -> np.ndarray:
            return np.minimum((u * n_items).astype(np.int64), n_items - 1) + 1

        todo = np.arange(n_users)
    else:
        cum = np.cumsum(weights)
        positive = np.flatnonzero(weights > 0)
        last = int(positive[-1]) if len(positive) else 0
        total = float(cum[-1]) if len(cum) else 0.0

        def to_item(u: np.ndarray) -> np.ndarray:
            return np.minimum(np.searchsorted(cum, u * total, side="right"), last) + 1

        # a user with fewer than n allowed items of positive popularity goes to the one-step path
        excluded_positive = np.bincount(
            row_of, weights=weights[keys % (n_items + 1) - 1] > 0, minlength=n_users
        )
        todo = np.flatnonzero(len(positive) - excluded_positive >= n)

    start, width = 0, n + n // 4 + 16
    for _ in range(_MAX_ROUNDS):
        if not len(todo):
            break
        chunk = max(1, _BLOCK // (n + width))  # bounded memory: blocks of users
        for lo in range(0, len(todo), chunk):
            rows = todo[lo : lo + chunk]
            _sequential_round(rows, start, width, base, to_item, keys, n_items, out, filled)
        start += width
        todo = todo[filled[todo] < n]
        width = 2 * n + 16
    rest = np.flatnonzero(filled < n)
    if len(rest):
        _complete(rest, base, weights, exclude, out, filled)
    return out


def loo_negatives(
    split: LeaveOneOutSplit,
    n: int,
    *,
    kind: str = "uniform",
    seed: int = 0,
    dataset_key: str = "",
    user_keys: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validation and test negatives of a leave-one-out split (PROTOCOL §3).

    Validation negatives exclude the training items and the validation target only (the test
    item is not consulted, so it may be a validation negative); test negatives exclude the whole
    sequence. Popularity (``kind="pop"``) is the training counts.

    Returns:
        ``(valid_negatives, test_negatives)``, each ``(n_users, n)``.

    Example:
        >>> from seqrec_bench.data import LeaveOneOutSplit
        >>> split = LeaveOneOutSplit.from_sequences(Sequences.from_lists([[1, 2, 3]], n_items=4))
        >>> valid, test = loo_negatives(split, 1, seed=0)
        >>> int(valid[0, 0]) in (3, 4), test.tolist()
        (True, [[4]])
    """
    pop = split.train.item_counts()
    valid_exclude = split.test_inputs  # train + validation target
    full = valid_exclude.append(split.test_targets())

    def draw(exclude: Sequences, salt: str) -> np.ndarray:
        return sample_negatives(
            exclude,
            n,
            kind=kind,
            popularity=pop,
            seed=seed,
            dataset_key=dataset_key,
            salt=salt,
            user_keys=user_keys,
        )

    return draw(valid_exclude, "valid"), draw(full, "test")
