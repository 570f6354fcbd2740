"""Loading, preprocessing and splitting interaction data.

Example:
    >>> from seqrec_bench.data import LeaveOneOutSplit, load_dataset
    >>> ds = load_dataset("synthetic", synthetic={"n_users": 200, "seed": 0}, cache=False)
    >>> split = LeaveOneOutSplit.from_sequences(ds.sequences)
    >>> split.n_users
    200
"""

from seqrec_bench.data.cache import dataset_cache_dir
from seqrec_bench.data.dataset import DatasetError, PreparedDataset
from seqrec_bench.data.load import SYNTHETIC, list_datasets, load_dataset
from seqrec_bench.data.movielens import MOVIELENS
from seqrec_bench.data.preprocess import TIE_ORDERS, Preprocessed, preprocess_interactions
from seqrec_bench.data.readers import (
    COLUMNS_SYNTAX,
    FORMATS,
    Interactions,
    detect_format,
    parse_columns,
    read_file,
)
from seqrec_bench.data.sequences import Sequences, Vocabulary
from seqrec_bench.data.split import MIN_SEQUENCE_LENGTH, LeaveOneOutSplit
from seqrec_bench.data.stats import (
    dataset_stats,
    hygiene_line,
    hygiene_warnings,
    leakage_line,
    leakage_stats,
    render_stats,
    stats_table,
)
from seqrec_bench.data.synthetic import SyntheticConfig, generate_synthetic
from seqrec_bench.data.temporal import GTS_TARGETS, GTS_VALID, GlobalTemporalSplit

__all__ = [
    "Sequences",
    "Vocabulary",
    "LeaveOneOutSplit",
    "MIN_SEQUENCE_LENGTH",
    "GlobalTemporalSplit",
    "GTS_TARGETS",
    "GTS_VALID",
    "PreparedDataset",
    "DatasetError",
    "load_dataset",
    "list_datasets",
    "dataset_cache_dir",
    "SYNTHETIC",
    "MOVIELENS",
    "FORMATS",
    "Interactions",
    "detect_format",
    "read_file",
    "parse_columns",
    "COLUMNS_SYNTAX",
    "Preprocessed",
    "preprocess_interactions",
    "TIE_ORDERS",
    "dataset_stats",
    "stats_table",
    "render_stats",
    "hygiene_line",
    "hygiene_warnings",
    "leakage_stats",
    "leakage_line",
    "SyntheticConfig",
    "generate_synthetic",
]
