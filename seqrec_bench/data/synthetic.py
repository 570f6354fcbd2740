"""A built-in, offline, deterministic data set with planted sequential structure.

Each user has ``topics_per_user`` latent topics (clusters of items; one by default) that persist
over the whole sequence. Each next item is drawn, step by step, by one of four mechanisms:

* **topic** (``1 - p_successor - p_echo - p_noise``): an item of one of the user's topics, by
  popularity. The topic shows in the whole history, but in the last item only when that item
  was itself a topic draw: a model that reads the history (transformer, GRU) can know it where a
  first-order Markov chain cannot.
* **noise** (``p_noise``): any item, by popularity. Noise is what hides the topic from the last
  item.
* **successor** (``p_successor``): one of the last item's ``n_successors`` likely successors,
  a fixed random table, with probabilities halving from the first to the last successor.
  First-order Markov chains learn this (by counting, very data-efficiently); popularity cannot.
* **echo** (``p_echo``, off by default): the fixed "partner" of the item seen ``echo_lag`` steps
  earlier. Only a model that looks further back than the last item can exploit it; neither
  neural default learns such a fixed-lag pattern within early stopping on data of this size
  (``results/quality.md``), so it is an option for studies of that question.

Item popularity is Zipf-like (``zipf_exponent``) over a random order of the items. Users do not
consume an item twice (like MovieLens): a drawn item already seen is redrawn from the user's
topics, then from global popularity, and after a few tries kept. Sequence lengths are
``min_length`` plus a log-normal part with mean ``mean_length - min_length``, capped at
``max_length`` (default: half the catalogue).

The defaults (10,000 users, 500 items in 25 topics, mean length 12, 35% noise, 10% successors)
are chosen so that the ranking the protocol is meant to reveal is there to be found, with
enough users for paired tests to resolve it: on validation (``benchmarks/synthetic_headroom.py``)
popularity scores NDCG@10 0.033, transition counts from the last item 0.133, and the
generator's own probabilities (:func:`planted_scores`, an oracle) 0.238 -- the headroom a
sequence model has over ``markov``. The MovieLens-1M shape is
``{"n_users": 6040, "n_items": 3416, "mean_length": 165}`` (about a million interactions, generated
in a few seconds: the loop runs over time steps with all users vectorised).

Example:
    >>> config = SyntheticConfig.from_dict({"n_users": 50, "n_items": 40, "seed": 1})
    >>> records = generate_synthetic(config)
    >>> len(set(records.users.tolist()))
    50
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqrec_bench.data.dataset import DatasetError
from seqrec_bench.data.readers import Interactions
from seqrec_bench.data.sequences import Sequences, Vocabulary

__all__ = [
    "SyntheticConfig",
    "generate_synthetic",
    "GENERATOR_VERSION",
    "PlantedStructure",
    "planted_structure",
    "planted_scores",
]

#: Bumped whenever the generator's output for the same parameters changes (part of the checksum).
GENERATOR_VERSION = 3

#: Largest users x items "already seen" matrix (one byte per cell) the generator allocates.
_MAX_SEEN_CELLS = 2_000_000_000
_REDRAWS = 4


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic generator (pass them as ``synthetic={...}``).

    Attributes:
        n_users: number of users.
        n_items: catalogue size (items never drawn are dropped by preprocessing).
        mean_length: mean sequence length.
        seed: seed of the numpy generator; same parameters -> same data.
        n_topics: number of latent topics (item clusters).
        topics_per_user: topics each user is interested in; a topic draw picks one of them at
            random, so the last item shows at most one of a user's interests.
        n_successors: likely successors per item.
        p_successor: probability that the next item is a successor of the last one.
        p_echo: probability that the next item is the partner of the one ``echo_lag`` steps back.
        echo_lag: how far back the echo looks.
        p_noise: probability of an item drawn by global popularity.
        zipf_exponent: popularity of the item of popularity rank r is proportional to
            ``r ** -zipf_exponent``.
        length_sigma: sigma of the log-normal part of the lengths (larger: heavier tail).
        min_length: shortest sequence (at least 3, the leave-one-out minimum).
        max_length: longest sequence; ``None`` means half the catalogue.
    """

    n_users: int = 10000
    n_items: int = 500
    mean_length: float = 12.0
    seed: int = 0
    n_topics: int = 25
    topics_per_user: int = 1
    n_successors: int = 3
    p_successor: float = 0.1
    p_echo: float = 0.0
    echo_lag: int = 3
    p_noise: float = 0.35
    zipf_exponent: float = 0.5
    length_sigma: float = 0.8
    min_length: int = 5
    max_length: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.n_users < 1:
            problems.append("n_users must be >= 1")
        if self.n_items < max(self.n_topics, self.n_successors + 2, 4):
            problems.append("n_items must exceed n_topics and n_successors + 1 (and be >= 4)")
        if self.n_topics < 1 or self.n_successors < 1 or self.echo_lag < 1:
            problems.append("n_topics, n_successors and echo_lag must be >= 1")
        if not 1 <= self.topics_per_user <= self.n_topics:
            problems.append("topics_per_user must lie in [1, n_topics]")
        probs = (self.p_successor, self.p_echo, self.p_noise)
        if any(p < 0 for p in probs) or sum(probs) > 1:
            problems.append("p_successor, p_echo, p_noise must be >= 0 and sum to <= 1")
        if self.min_length < 3:
            problems.append("min_length must be >= 3")
        if self.mean_length < self.min_length:
            problems.append("mean_length must be >= min_length")
        if self.max_length is not None and self.max_length < self.min_length:
            problems.append("max_length must be >= min_length")
        if self.length_sigma < 0 or self.zipf_exponent < 0:
            problems.append("length_sigma and zipf_exponent must be >= 0")
        if self.n_users * (self.n_items + 1) > _MAX_SEEN_CELLS:
            problems.append(f"n_users * n_items must stay below {_MAX_SEEN_CELLS:,}")
        if problems:
            raise DatasetError(f"invalid synthetic options: {'; '.join(problems)}")

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None) -> SyntheticConfig:
        """Build from user options; unknown keys are an error that lists the valid ones."""
        options = dict(options or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise DatasetError(
                f"unknown synthetic option(s) {', '.join(unknown)}: valid options are "
                f"{', '.join(fields)}"
            )
        typed: dict[str, Any] = {}
        for key, value in options.items():
            try:
                if key == "max_length" and (value is None or str(value).lower() in ("none", "")):
                    typed[key] = None
                elif fields[key].type in ("int", "int | None"):
                    if float(value) != int(float(value)):
                        raise ValueError
                    typed[key] = int(float(value))
                else:
                    typed[key] = float(value)
            except (TypeError, ValueError):
                raise DatasetError(f"synthetic option {key}={value!r} is not a number") from None
        return cls(**typed)

    def to_dict(self) -> dict[str, Any]:
        """All parameters, defaults included (recorded in the dataset options)."""
        return dataclasses.asdict(self)

    @property
    def checksum(self) -> str:
        """SHA-256 of the generator version and all parameters."""
        blob = json.dumps(
            {
                "generator": "seqrec_bench.synthetic",
                "version": GENERATOR_VERSION,
                "params": self.to_dict(),
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


def _lengths(config: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    extra_mean = config.mean_length - config.min_length
    if extra_mean <= 0:
        extra = np.zeros(config.n_users)
    else:
        sigma = config.length_sigma
        extra = rng.lognormal(np.log(extra_mean) - sigma**2 / 2, sigma, size=config.n_users)
    cap = config.max_length if config.max_length is not None else config.n_items // 2
    cap = max(cap, config.min_length)
    return np.minimum(config.min_length + np.rint(extra).astype(np.int64), cap)


class _Sampler:
    """Draws items (0-based) by popularity: globally, or within each user's topic."""

    def __init__(self, popularity: np.ndarray, topic_of: np.ndarray, n_topics: int) -> None:
        self.global_cdf = np.cumsum(popularity)
        self.by_topic = np.argsort(topic_of, kind="stable")
        self.topic_cdf = np.cumsum(popularity[self.by_topic])
        ends = np.cumsum(np.bincount(topic_of, minlength=n_topics))
        self.topic_end = ends - 1
        starts = ends - np.bincount(topic_of, minlength=n_topics)
        low = np.concatenate([[0.0], self.topic_cdf])[starts]
        self.topic_low, self.topic_mass = low, self.topic_cdf[ends - 1] - low

    def in_topic(self, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = self.topic_low[topics] + rng.random(len(topics)) * self.topic_mass[topics]
        idx = np.minimum(np.searchsorted(self.topic_cdf, u, side="right"), self.topic_end[topics])
        return self.by_topic[idx]

    def overall(self, n: int, rng: np.random.Generator) -> np.ndarray:
        u = rng.random(n) * self.global_cdf[-1]
        return np.minimum(
            np.searchsorted(self.global_cdf, u, side="right"), len(self.global_cdf) - 1
        )


def _successors(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct successors per item, drawn by ``weights`` (an ``(n_items, k)`` table).

    Drawn with replacement for all items at once; the few rows with a repeated successor are
    redrawn until every row is distinct (a per-item ``rng.choice(p=...)`` would cost
    O(n_items ** 2)).
    """
    cdf = np.cumsum(weights)
    n = len(weights)

    def draw(rows: int) -> np.ndarray:
        u = rng.random((rows, k)) * cdf[-1]
        return np.minimum(np.searchsorted(cdf, u, side="right"), n - 1)

    table = draw(n)
    while True:
        ordered = np.sort(table, axis=1)
        bad = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
        if not len(bad):
            return table
        table[bad] = draw(len(bad))


@dataclass(frozen=True)
class PlantedStructure:
    """The hidden tables the generator draws from (0-based item and user indices).

    What a model would know if it knew the generator: used by :func:`planted_scores` (an oracle
    for benchmarks, never a model of the library) and by tests of the planted signal.

    Attributes:
        popularity: ``(n_items,)`` unnormalised popularity weights.
        topic_of: ``(n_items,)`` topic of each item.
        successors: ``(n_items, n_successors)`` likely successors of each item.
        successor_p: ``(n_successors,)`` probability of picking each successor column.
        partner: ``(n_items,)`` the echo partner of each item.
        user_topics: ``(n_users, topics_per_user)`` each user's topics.
    """

    popularity: np.ndarray
    topic_of: np.ndarray
    successors: np.ndarray
    successor_p: np.ndarray
    partner: np.ndarray
    user_topics: np.ndarray


def _draw_structure(config: SyntheticConfig, rng: np.random.Generator) -> PlantedStructure:
    n_users, n_items = config.n_users, config.n_items
    rank = rng.permutation(n_items)
    popularity = (rank + 1.0) ** -config.zipf_exponent
    topic_of = rng.permutation(n_items) % config.n_topics
    succ_weights = np.sqrt(popularity) / np.sqrt(popularity).sum()
    successors = _successors(succ_weights, config.n_successors, rng)
    successor_p = 0.5 ** np.arange(config.n_successors)
    successor_p /= successor_p.sum()
    partner = (np.arange(n_items) + rng.integers(1, n_items, size=n_items)) % n_items  # != self
    # each user's interests: ``topics_per_user`` distinct topics
    user_topics = np.argsort(rng.random((n_users, config.n_topics)), axis=1)[
        :, : config.topics_per_user
    ]
    return PlantedStructure(popularity, topic_of, successors, successor_p, partner, user_topics)


def planted_structure(config: SyntheticConfig) -> PlantedStructure:
    """The hidden tables of the data set ``config`` generates (same seed, same tables).

    Example:
        >>> cfg = SyntheticConfig(n_users=20, n_items=30, n_topics=3, seed=3)
        >>> planted_structure(cfg).user_topics.shape
        (20, 1)
    """
    return _draw_structure(config, np.random.default_rng(config.seed))


def planted_scores(
    config: SyntheticConfig, vocab: Vocabulary, inputs: Sequences, users: np.ndarray | None = None
) -> np.ndarray:
    """The generator's own next-item probabilities: an oracle bound for benchmarks.

    Args:
        config: the generator parameters of the data set.
        vocab: the data set's vocabulary (dense ids <-> the generator's raw ids).
        inputs: the histories to score, in dense item ids (e.g. a split's ``valid_inputs``).
        users: the dense user index of each row of ``inputs``; default ``0..n_users-1``, the
            row order of a split's inputs.

    Returns:
        ``(B, n_items + 1)`` scores over dense item ids (column 0, the padding id, is 0): the
        mixture of the four mechanisms with their probabilities, before the no-repeat redraws
        (masking the seen items, as the evaluation protocol does, accounts for most of those).

    Example:
        >>> from seqrec_bench.data import load_dataset
        >>> from seqrec_bench.data.split import LeaveOneOutSplit
        >>> cfg = SyntheticConfig(n_users=30, n_items=12, n_topics=2, seed=0)
        >>> ds = load_dataset("synthetic", synthetic=cfg.to_dict(), cache=False)
        >>> inputs = LeaveOneOutSplit.from_sequences(ds.sequences).valid_inputs
        >>> planted_scores(cfg, ds.vocab, inputs).shape == (30, ds.sequences.n_items + 1)
        True
    """
    planted = planted_structure(config)
    rows = np.arange(inputs.n_users)
    users = rows if users is None else np.asarray(users)
    # generator (0-based) indices of the users and of the dense items (the padding id maps to 0,
    # a real item, but its column is zeroed at the end)
    user_g = np.asarray(vocab.user_ids, dtype=np.int64)[users] - 1
    item_g = np.concatenate([[1], np.asarray(vocab.item_ids, dtype=np.int64)]) - 1

    pop = planted.popularity
    topic_mass = np.bincount(planted.topic_of, weights=pop, minlength=config.n_topics)
    in_topic = np.zeros((config.n_topics, config.n_items))  # P(item | topic)
    in_topic[planted.topic_of, np.arange(config.n_items)] = pop / topic_mass[planted.topic_of]
    interests = np.zeros((len(users), config.n_topics))  # each user's topics, equally likely
    np.add.at(interests, (rows[:, None], planted.user_topics[user_g]), 1.0 / config.topics_per_user)
    p_topic = 1.0 - config.p_successor - config.p_echo - config.p_noise
    out = p_topic * (interests @ in_topic) + config.p_noise * pop / pop.sum()

    has = inputs.lengths >= 1
    succ = planted.successors[item_g[inputs.last(1)[has]]]
    np.add.at(out, (rows[has, None], succ), config.p_successor * planted.successor_p)
    has = inputs.lengths >= config.echo_lag
    out[rows[has], planted.partner[item_g[inputs.last(config.echo_lag)[has]]]] += config.p_echo

    dense = out[:, item_g]
    dense[:, 0] = 0.0
    return dense


def generate_synthetic(config: SyntheticConfig) -> Interactions:
    """Generate the records of the synthetic data set (already in time order, no timestamps).

    Users are ``1..n_users`` and items ``1..n_items`` (raw ids).

    Example:
        >>> a = generate_synthetic(SyntheticConfig(n_users=20, n_items=30, seed=3))
        >>> b = generate_synthetic(SyntheticConfig(n_users=20, n_items=30, seed=3))
        >>> bool((a.items == b.items).all())
        True
    """
    rng = np.random.default_rng(config.seed)
    n_users, n_items = config.n_users, config.n_items
    # the planted structure, all fixed by the seed
    planted = _draw_structure(config, rng)
    sampler = _Sampler(planted.popularity, planted.topic_of, config.n_topics)
    successors, pick_p, partner = planted.successors, planted.successor_p, planted.partner
    user_topics = planted.user_topics
    lengths = _lengths(config, rng)

    # Users sorted by length (longest first), so the users still active at step t are a prefix.
    order = np.argsort(-lengths, kind="stable")
    slot_len = lengths[order]
    slot_topics = user_topics[order]
    n_interests = config.topics_per_user

    def topic_draw(rows: np.ndarray) -> np.ndarray:
        """One in-topic item for each slot in ``rows``, from one of its topics at random."""
        which = rng.integers(n_interests, size=len(rows))
        return sampler.in_topic(slot_topics[rows, which], rng)

    offsets = np.concatenate([[0], np.cumsum(lengths)])
    slot_base = offsets[:-1][order]
    out = np.zeros(int(offsets[-1]), dtype=np.int64)
    seen = np.zeros((n_users, n_items), dtype=bool)
    lag = config.echo_lag
    history = np.zeros((n_users, lag), dtype=np.int64)  # ring buffer of the last ``lag`` items
    last = np.zeros(n_users, dtype=np.int64)
    n_active = np.searchsorted(-slot_len, -np.arange(int(slot_len[0])), side="left")  # len > t
    p_s, p_e, p_n = config.p_successor, config.p_echo, config.p_noise

    for t, m in enumerate(n_active.tolist()):
        rows = np.arange(m)
        r = rng.random(m)
        cand = topic_draw(rows)
        if t > 0:
            use = np.flatnonzero(r < p_s)
            pick = rng.choice(config.n_successors, size=len(use), p=pick_p)
            cand[use] = successors[last[use], pick]
            # an already-seen successor gives way to the first unseen one, if any
            succ_rows = successors[last[use]]
            unseen = ~seen[use[:, None], succ_rows]
            blocked = seen[use, cand[use]] & unseen.any(axis=1)
            cand[use[blocked]] = succ_rows[blocked, np.argmax(unseen[blocked], axis=1)]
        if t >= lag:
            use = np.flatnonzero((r >= p_s) & (r < p_s + p_e))
            cand[use] = partner[history[use, t % lag]]
        use = np.flatnonzero((r >= p_s + p_e) & (r < p_s + p_e + p_n))
        cand[use] = sampler.overall(len(use), rng)

        dup = np.flatnonzero(seen[rows, cand])
        for attempt in range(_REDRAWS):
            if not len(dup):
                break
            if attempt < _REDRAWS // 2:
                cand[dup] = topic_draw(dup)
            else:
                cand[dup] = sampler.overall(len(dup), rng)
            dup = dup[seen[dup, cand[dup]]]

        seen[rows, cand] = True
        out[slot_base[:m] + t] = cand + 1
        history[:m, t % lag] = cand
        last[:m] = cand

    users = np.repeat(np.arange(1, n_users + 1, dtype=np.int64), lengths)
    return Interactions(users=users, items=out, timestamps=None, files=[])
