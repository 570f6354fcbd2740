"""Comparison reports: per-user ranks in, paper tables out (PROTOCOL §5).

Example:
    >>> import numpy as np
    >>> from seqrec_bench.report import Report
    >>> ranks = {"ml-1m": {"sasrec": [np.array([1, 2, 30])], "pop": [np.array([9, 40, 50])]}}
    >>> report = Report.from_ranks(ranks, metrics=["HR@10", "NDCG@10"])
    >>> report.summary()["comparisons"]["HR@10"]["reference"]
    'sasrec'
"""

from seqrec_bench.report.render import escape_latex, escape_markdown
from seqrec_bench.report.report import CellResult, Improvement, Report

__all__ = ["Report", "CellResult", "Improvement", "escape_latex", "escape_markdown"]
