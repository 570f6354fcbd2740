"""Paired significance tests, multiple-comparison corrections and bootstrap intervals (PROTOCOL §5).

One function per test, each returning a :class:`TestResult`; corrections are separate
functions over a 1-d array of p-values. :data:`TESTS` and :data:`CORRECTIONS` look them up by
the short names the CLI and :class:`seqrec_bench.report.Report` use.

Example:
    >>> import numpy as np
    >>> a, b = np.array([1.0, 0.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0, 0.0])
    >>> TESTS["ttest"](a, b).name
    'paired t-test'
    >>> CORRECTIONS["holm"]([0.01, 0.04]).tolist()
    [0.02, 0.04]
    >>> TESTS["z-test"]
    Traceback (most recent call last):
    ...
    seqrec_bench.stats.lookup.UnknownNameError: unknown test 'z-test'; valid: ttest, wilcoxon, permutation
"""

from collections.abc import Callable

import numpy as np

from seqrec_bench.stats.bootstrap import ConfidenceInterval, bootstrap_ci, bootstrap_cis
from seqrec_bench.stats.corrections import benjamini_hochberg, bonferroni, holm, no_correction
from seqrec_bench.stats.lookup import Lookup, UnknownNameError
from seqrec_bench.stats.paired import TestResult, paired_t_test, permutation_test, wilcoxon_test

__all__ = [
    "TestResult",
    "paired_t_test",
    "wilcoxon_test",
    "permutation_test",
    "holm",
    "bonferroni",
    "benjamini_hochberg",
    "no_correction",
    "ConfidenceInterval",
    "bootstrap_ci",
    "bootstrap_cis",
    "TESTS",
    "CORRECTIONS",
    "Lookup",
    "UnknownNameError",
]

#: Paired tests by name; each is called as ``TESTS[name](a, b) -> TestResult``.
TESTS: Lookup[Callable[..., TestResult]] = Lookup(
    "test",
    {"ttest": paired_t_test, "wilcoxon": wilcoxon_test, "permutation": permutation_test},
    {
        "ttest": "paired t-test",
        "wilcoxon": "Wilcoxon signed-rank test",
        "permutation": "paired permutation test",
    },
)

#: Corrections by name; each is called as ``CORRECTIONS[name](pvalues) -> adjusted``.
CORRECTIONS: Lookup[Callable[..., np.ndarray]] = Lookup(
    "correction",
    {"holm": holm, "bonferroni": bonferroni, "bh": benjamini_hochberg, "none": no_correction},
    {"holm": "Holm", "bonferroni": "Bonferroni", "bh": "Benjamini-Hochberg", "none": "none"},
)
