"""Test helpers for model authors: the contract suite and tiny synthetic data sets.

Example:
    >>> from seqrec_bench.testing import ModelContract  # doctest: +SKIP
    >>> class TestMyModel(ModelContract):  # doctest: +SKIP
    ...     model_cls = MyModel

Importing this package imports pytest; the rest of seqrec_bench never imports it.
"""

from seqrec_bench.testing.contract import ModelContract
from seqrec_bench.testing.data import (
    cycle_sequences,
    leak_probe_sequences,
    random_sequences,
    sequence_stats,
)

__all__ = [
    "ModelContract",
    "cycle_sequences",
    "leak_probe_sequences",
    "random_sequences",
    "sequence_stats",
]
