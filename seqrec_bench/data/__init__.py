"""Loading, preprocessing and splitting interaction data."""

from seqrec_bench.data.sequences import Sequences, Vocabulary
from seqrec_bench.data.split import MIN_SEQUENCE_LENGTH, LeaveOneOutSplit

__all__ = ["Sequences", "Vocabulary", "LeaveOneOutSplit", "MIN_SEQUENCE_LENGTH"]
from seqrec_bench.data.dataset import DatasetError, PreparedDataset  # noqa: E402

__all__ += ["PreparedDataset", "DatasetError"]
