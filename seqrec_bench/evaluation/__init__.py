"""Ranking, metrics and batched evaluation (PROTOCOL §3-4)."""

from seqrec_bench.evaluation.evaluator import (
    EvaluationResult,
    Evaluator,
    per_user_values,
    summarize_ranks,
)
from seqrec_bench.evaluation.metrics import (
    UNREACHABLE,
    Metric,
    hit_rate,
    metric_labels,
    mrr,
    ndcg,
    parse_metric,
)
from seqrec_bench.evaluation.ranking import (
    RANKING_RULE,
    NonFiniteScoresError,
    full_ranks,
    sampled_ranks,
    seen_targets,
)
from seqrec_bench.evaluation.sampling import parse_protocol, sample_negatives

__all__ = [
    "Evaluator",
    "EvaluationResult",
    "summarize_ranks",
    "per_user_values",
    "Metric",
    "hit_rate",
    "ndcg",
    "mrr",
    "parse_metric",
    "metric_labels",
    "NonFiniteScoresError",
    "full_ranks",
    "sampled_ranks",
    "seen_targets",
    "UNREACHABLE",
    "RANKING_RULE",
    "sample_negatives",
    "parse_protocol",
]
