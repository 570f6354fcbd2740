"""Controls: the same data with one property destroyed, to tell a signal from an artefact.

``shuffle``: each user's sequence in a random order (seeded; the same multiset of items per
user). A model that does not lose significantly on shuffled order has learnt no order
(Klenitskiy et al., "Does It Look Sequential?", RecSys 2024).
"""

from __future__ import annotations

import numpy as np

from seqrec_bench.data.sequences import Sequences

__all__ = ["CONTROLS", "shuffle_within_users"]

#: The controls a run can add (``--control``).
CONTROLS = ("shuffle",)


def shuffle_within_users(seqs: Sequences, seed: int = 0, key: int = 0xC0DE) -> Sequences:
    """Each user's items in a random order (the same multiset per user, seeded), vectorised.

    ``key`` separates independent shuffles of one seed (the training and the test inputs).

    Example:
        >>> s = Sequences.from_lists([[1, 2, 3, 4], [5, 6]], n_items=6)
        >>> out = shuffle_within_users(s, seed=1)
        >>> [sorted(x) for x in out.to_lists()] == [[1, 2, 3, 4], [5, 6]]
        True
    """
    from seqrec_bench.seeding import numpy_generator

    rng = numpy_generator(seed, "shuffle", key)
    keys = rng.random(len(seqs.items))
    order = np.lexsort((keys, seqs.user_index()))  # by user, then by the random key
    # timestamps stay with their positions (each row still ascends in time): the items move,
    # so a time-aware model sees the same moments with the order of what happened destroyed
    return Sequences(seqs.items[order], seqs.offsets.copy(), seqs.n_items, seqs.times)
