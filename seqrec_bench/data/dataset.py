"""The prepared data set every run starts from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqrec_bench.data.sequences import Sequences, Vocabulary
from seqrec_bench.errors import SeqbenchError

__all__ = ["PreparedDataset", "DatasetError"]


class DatasetError(SeqbenchError, ValueError):
    """A problem with the user's data or data set name; its message is one clear line
    (what was wrong, where, what to do) that the CLI prints as is."""


@dataclass(frozen=True)
class PreparedDataset:
    """Sequences ready to split, with where they came from.

    Attributes:
        name: data set name (``"ml-1m"``, ``"synthetic"``) or the file name for local files.
        sequences: per-user time-ordered sequences after preprocessing (every user has >= 3 items).
        vocab: raw ids of users and items.
        checksum: SHA-256 of the source file(s) (or of the generator parameters for synthetic).
        options: the preprocessing options that were applied (printed and stored with the run).
        stats: dataset statistics (PROTOCOL §1): users, items, interactions, lengths, density, ...
        timestamps: the timestamp of every entry of ``sequences.items`` (same order: each user's
            prepared order), or ``None`` for data without timestamps (sequences files,
            synthetic). Not part of :attr:`key` (it is a function of the data and options).
    """

    name: str
    sequences: Sequences
    vocab: Vocabulary
    checksum: str
    options: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    timestamps: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        """Identifies the data and preprocessing: checksum + options (used by caches and resume)."""
        import hashlib
        import json

        blob = json.dumps({"checksum": self.checksum, "options": self.options}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
