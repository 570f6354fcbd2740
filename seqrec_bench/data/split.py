"""The leave-one-out split of PROTOCOL §2."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seqrec_bench.data.dataset import DatasetError
from seqrec_bench.data.sequences import Sequences

__all__ = ["LeaveOneOutSplit", "MIN_SEQUENCE_LENGTH"]

#: A user needs at least one training item plus the validation and test targets.
MIN_SEQUENCE_LENGTH = 3


@dataclass(frozen=True)
class LeaveOneOutSplit:
    """Last item = test target, second-to-last = validation target, the rest = training.

    For a user ``s_1 .. s_n``:

    * ``train``: ``s_1 .. s_{n-2}``, the only thing a model is fitted on;
    * validation: input ``s_1 .. s_{n-2}`` (= ``train``), target ``s_{n-1}``;
    * test: input ``s_1 .. s_{n-1}``, target ``s_n``.

    The test targets are kept out of every attribute a model is handed; only the harness reads
    them, through :meth:`test_targets`, for the final evaluation.

    Example:
        >>> seqs = Sequences.from_lists([[1, 2, 3, 4], [2, 3, 1]], n_items=4)
        >>> split = LeaveOneOutSplit.from_sequences(seqs)
        >>> split.train.to_lists(), split.valid_targets.tolist()
        ([[1, 2], [2]], [3, 3])
    """

    train: Sequences
    valid_targets: np.ndarray
    _test_targets: np.ndarray = field(repr=False)
    #: the validation targets' timestamps when the sequences carry them (the test input's last
    #: entry, i.e. the time of the test prediction)
    valid_times: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_sequences(cls, seqs: Sequences) -> LeaveOneOutSplit:
        """Split every user; all sequences must have at least 3 items (see PROTOCOL §1.5).

        Timestamps carried by ``seqs`` (:attr:`Sequences.times`) are kept in every input.
        """
        lengths = seqs.lengths
        if len(lengths) and lengths.min() < MIN_SEQUENCE_LENGTH:
            bad = int(np.argmin(lengths))
            raise DatasetError(
                f"user row {bad} has {int(lengths[bad])} interactions; leave-one-out needs >= "
                f"{MIN_SEQUENCE_LENGTH} (drop short users during preprocessing)"
            )
        return cls(
            train=seqs.truncate(2),
            valid_targets=seqs.last(2),
            _test_targets=seqs.last(1),
            valid_times=None if seqs.times is None else seqs.times[seqs.offsets[1:] - 2],
        )

    @property
    def n_users(self) -> int:
        return self.train.n_users

    @property
    def n_items(self) -> int:
        return self.train.n_items

    @property
    def valid_inputs(self) -> Sequences:
        """Validation input: the training sequences themselves."""
        return self.train

    @property
    def test_inputs(self) -> Sequences:
        """Test input: training sequence plus the validation item."""
        return self.train.append(self.valid_targets, self.valid_times)

    def test_targets(self) -> np.ndarray:
        """The held-out test items. Only the final evaluation calls this."""
        return self._test_targets
