"""seqrec_bench: fair, fast, paper-ready benchmarking of sequential recommenders."""

__version__ = "0.1.0"

__all__ = ["__version__"]
