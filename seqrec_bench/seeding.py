"""Independent random streams, one per purpose, derived from a run's seed.

A run has one seed, but it needs several random streams: the initial weights, the order of the
training batches, dropout, sampled negatives, ... Deriving them as ``seed``, ``seed + 1``,
``seed + 2`` makes the streams of neighbouring seeds overlap (seed 0's dropout would be seed 1's
initialisation), which correlates the runs a "mean ± std over seeds" is computed from. Here each
``(seed, purpose)`` pair gets its own stream from ``np.random.SeedSequence([seed, PURPOSES[
purpose]])``, whose hash makes the streams of different pairs statistically independent.

Purposes and their fixed ids (never renumber one: that changes every number it feeds):

* ``init`` (1): initial weights of a network (built under :func:`seqrec_bench.training.seeded`);
* ``shuffle`` (2): the order of the training batches (the trainer);
* ``dropout`` (3): dropout and other in-training draws from torch's global RNG (the trainer);
* ``negatives`` (4): negatives sampled by a training loss (the transformer's bce/sampled losses);
* ``masking`` (5): the masked positions of a cloze objective (BERT4Rec);
* ``valid_negatives`` (6) and ``test_negatives`` (7): the sampled-protocol negatives of the
  validation and the test targets (:func:`seqrec_bench.evaluation.sample_negatives`).

A plugin that needs a stream of its own registers a purpose with :func:`register_purpose`.

Example:
    >>> stream_seed(0, "init") != stream_seed(0, "dropout") != stream_seed(1, "init")
    True
    >>> stream_seed(0, "init") == stream_seed(0, "init")
    True
    >>> 0 <= stream_seed(0, "shuffle") < 2**63
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "PURPOSES",
    "stream_seed",
    "seed_sequence",
    "numpy_generator",
    "torch_generator",
    "register_purpose",
]

#: The fixed id of every purpose (0 is never used: ``SeedSequence`` pads its entropy with zeros).
PURPOSES: dict[str, int] = {
    "init": 1,
    "shuffle": 2,
    "dropout": 3,
    "negatives": 4,
    "masking": 5,
    "valid_negatives": 6,
    "test_negatives": 7,
}

#: Ids from here on are left to :func:`register_purpose` (plugins).
_FIRST_PLUGIN_ID = 1000


def register_purpose(purpose: str, purpose_id: int) -> None:
    """Register a new purpose for a plugin's own stream.

    Args:
        purpose: a name not yet in :data:`PURPOSES`.
        purpose_id: a fixed integer >= 1000, unique among the purposes; keep it constant across
            releases (changing it changes the stream).

    Raises:
        ValueError: the name or the id is taken, or the id is below 1000. Registering the same
            pair again is a no-op.
    """
    if PURPOSES.get(purpose) == purpose_id:
        return
    if purpose in PURPOSES:
        raise ValueError(f"purpose {purpose!r} is already registered (id {PURPOSES[purpose]})")
    if not isinstance(purpose_id, int) or purpose_id < _FIRST_PLUGIN_ID:
        raise ValueError(f"plugin purpose ids must be integers >= {_FIRST_PLUGIN_ID}")
    if purpose_id in PURPOSES.values():
        raise ValueError(f"purpose id {purpose_id} is already used")
    PURPOSES[purpose] = purpose_id


def seed_sequence(seed: int, purpose: str, *key: int) -> np.random.SeedSequence:
    """``np.random.SeedSequence([seed, PURPOSES[purpose], *key])``, checked.

    Args:
        seed: the run's seed, a non-negative integer.
        purpose: one of :data:`PURPOSES`.
        key: further non-negative integers the stream depends on (e.g. a data set's digest).

    Raises:
        ValueError: a negative or non-integer seed, or an unknown purpose.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"a seed must be a non-negative integer, got {seed!r}")
    try:
        purpose_id = PURPOSES[purpose]
    except KeyError:
        raise ValueError(
            f"unknown random-stream purpose {purpose!r}; known: {', '.join(PURPOSES)}"
        ) from None
    return np.random.SeedSequence([int(seed), purpose_id, *(int(k) for k in key)])


def stream_seed(seed: int, purpose: str) -> int:
    """The seed of the ``purpose`` stream of a run with ``seed``: an int in ``[0, 2**63)``.

    Suitable for ``torch.manual_seed``, ``torch.Generator().manual_seed`` and
    :func:`seqrec_bench.training.seeded`. Streams differ across purposes and across seeds (no
    ``stream_seed(s, "dropout") == stream_seed(s + 1, "init")`` overlap).

    Example:
        >>> stream_seed(3, "init") == stream_seed(3, "init")
        True
        >>> stream_seed(3, "init") == stream_seed(4, "init")
        False
    """
    state = seed_sequence(seed, purpose).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def numpy_generator(seed: int, purpose: str, *key: int) -> np.random.Generator:
    """A numpy ``Generator`` on the ``purpose`` stream (optionally keyed further by ``key``)."""
    return np.random.default_rng(seed_sequence(seed, purpose, *key))


def torch_generator(seed: int, purpose: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device``, seeded with :func:`stream_seed`."""
    import torch

    return torch.Generator(device=torch.device(device)).manual_seed(stream_seed(seed, purpose))
