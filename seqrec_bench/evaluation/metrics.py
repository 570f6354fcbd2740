"""Ranking metrics of PROTOCOL §4, as pure functions of the per-user rank of the target.

Every function takes the 1-based ranks (one per user) and returns per-user values; means are
taken by the caller, so per-user values stay available for significance tests.

Example:
    >>> import numpy as np
    >>> ranks = np.array([1, 3, 20])
    >>> hit_rate(ranks, 10).tolist(), round(float(ndcg(ranks, 10)[1]), 4)
    ([1.0, 1.0, 0.0], 0.5)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seqrec_bench.errors import ConfigError

__all__ = [
    "hit_rate",
    "ndcg",
    "mrr",
    "Metric",
    "parse_metric",
    "metric_labels",
    "METRIC_NAMES",
    "UNREACHABLE",
]


#: The rank of a target that seen-item exclusion removed from the candidates (PROTOCOL §3): larger
#: than any cut-off and any catalogue, and it fits the stored int32 ranks. Every metric is 0 there.
UNREACHABLE = 2**31 - 1


def _as_ranks(ranks: np.ndarray) -> np.ndarray:
    ranks = np.asarray(ranks)
    if ranks.size and ranks.min() < 1:
        raise ValueError("ranks are 1-based and must be >= 1")
    return ranks


def hit_rate(ranks: np.ndarray, k: int) -> np.ndarray:
    """HR@k (= Recall@k with one target): 1 if rank <= k else 0."""
    return (_as_ranks(ranks) <= k).astype(np.float64)


def ndcg(ranks: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k with one relevant item: 1 / log2(rank + 1) if rank <= k else 0."""
    r = _as_ranks(ranks).astype(np.float64)
    return np.where(r <= k, 1.0 / np.log2(r + 1.0), 0.0)


def mrr(ranks: np.ndarray, k: int | None = None) -> np.ndarray:
    """MRR@k: 1 / rank if rank <= k else 0; without ``k``, plain reciprocal rank."""
    r = _as_ranks(ranks).astype(np.float64)
    if k is None:
        return np.where(r >= UNREACHABLE, 0.0, 1.0 / r)  # an unreachable target scores 0
    return np.where(r <= k, 1.0 / r, 0.0)


METRIC_NAMES = ("HR", "NDCG", "MRR")


@dataclass(frozen=True)
class Metric:
    """A metric with its label (``"NDCG@10"``), cut-off and direction."""

    name: str
    k: int | None
    higher_is_better: bool = True

    @property
    def label(self) -> str:
        return self.name if self.k is None else f"{self.name}@{self.k}"

    def __call__(self, ranks: np.ndarray) -> np.ndarray:
        """Per-user values for the given ranks."""
        fn: Callable[..., np.ndarray] = {"HR": hit_rate, "NDCG": ndcg, "MRR": mrr}[self.name]
        if self.k is None:
            return fn(ranks)
        return fn(ranks, self.k)


_LABEL = re.compile(r"^(?P<name>[A-Za-z]+)(?:@(?P<k>\d+))?$")


def parse_metric(label: str) -> Metric:
    """Parse ``"HR@10"``, ``"ndcg@5"``, ``"MRR"`` into a :class:`Metric`.

    Raises:
        ConfigError: for unknown names or a missing cut-off (only MRR may omit it); a
            ``ValueError``, so callers catching that keep working.
    """
    m = _LABEL.match(label.strip())
    name = m.group("name").upper() if m else ""
    if name == "RECALL":
        name = "HR"
    if not m or name not in METRIC_NAMES:
        raise ConfigError(
            f"unknown metric {label!r}; valid: HR@k, NDCG@k, MRR@k, MRR (e.g. NDCG@10)"
        )
    k = int(m.group("k")) if m.group("k") else None
    if k is None and name != "MRR":
        raise ConfigError(f"metric {label!r} needs a cut-off, e.g. {name}@10")
    if k is not None and k < 1:
        raise ConfigError(f"cut-off must be >= 1 in {label!r}")
    return Metric(name, k)


def metric_labels(
    ks: list[int] | tuple[int, ...], names: tuple[str, ...] = ("HR", "NDCG")
) -> list[str]:
    """Labels for every (name, k), name-major: ``metric_labels([5, 10])`` is
    ``["HR@5", "HR@10", "NDCG@5", "NDCG@10"]`` (the column order of paper tables)."""
    return [f"{n}@{k}" for n in names for k in ks]
