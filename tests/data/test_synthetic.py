"""The synthetic data set: deterministic, checksummed, and with the structure it promises."""

from __future__ import annotations

import numpy as np
import pytest

from seqrec_bench.data import (
    DatasetError,
    LeaveOneOutSplit,
    SyntheticConfig,
    generate_synthetic,
    load_dataset,
)
from seqrec_bench.evaluation import Evaluator
from seqrec_bench.models import MarkovModel, PopularityModel


def test_deterministic_for_a_seed() -> None:
    a = load_dataset("synthetic", synthetic={"n_users": 300, "seed": 3}, cache=False)
    b = load_dataset("synthetic", synthetic={"n_users": 300, "seed": 3}, cache=False)
    c = load_dataset("synthetic", synthetic={"n_users": 300, "seed": 4}, cache=False)
    np.testing.assert_array_equal(a.sequences.items, b.sequences.items)
    np.testing.assert_array_equal(a.sequences.offsets, b.sequences.offsets)
    assert a.checksum == b.checksum != c.checksum
    assert not np.array_equal(a.sequences.items[:1000], c.sequences.items[:1000])


def test_checksum_covers_every_parameter() -> None:
    base = SyntheticConfig()
    assert base.checksum == SyntheticConfig.from_dict({}).checksum
    assert base.checksum != SyntheticConfig(p_echo=0.1).checksum
    assert base.checksum != SyntheticConfig(n_items=501).checksum


def test_options_recorded_and_defaults() -> None:
    ds = load_dataset("synthetic", cache=False)
    assert ds.name == "synthetic"
    assert ds.options["synthetic"] == SyntheticConfig().to_dict()
    st = ds.stats
    assert st["users"] == 2000 and 450 <= st["items"] <= 500
    assert 25 <= st["length"]["mean"] <= 35 and st["length"]["min"] >= 5
    # users rarely consume an item twice, like MovieLens
    assert st["test_repeat_share"] < 0.05


def test_unknown_and_invalid_options() -> None:
    with pytest.raises(
        DatasetError, match=r"unknown synthetic option\(s\) n_user: valid options are n_users"
    ):
        load_dataset("synthetic", synthetic={"n_user": 10})
    with pytest.raises(DatasetError, match="sum to <= 1"):
        SyntheticConfig(p_successor=0.9, p_echo=0.2)
    with pytest.raises(DatasetError, match="is not a number"):
        SyntheticConfig.from_dict({"seed": "abc"})
    with pytest.raises(DatasetError, match="no --format or --columns"):
        load_dataset("synthetic", format="interactions")


def test_movielens_1m_shape() -> None:
    records = generate_synthetic(SyntheticConfig(n_users=6040, n_items=3416, mean_length=165))
    lengths = np.bincount(records.users)[1:]
    assert len(lengths) == 6040
    assert abs(lengths.mean() - 165) < 8
    assert lengths.max() > 4 * np.median(lengths)  # a heavy tail, like the real one
    assert records.items.min() >= 1 and records.items.max() <= 3416


def _ndcg10(model, split: LeaveOneOutSplit) -> float:
    valid = Evaluator(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])
    test = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
    model.fit(split.train, seed=0, validator=valid)
    return test.evaluate(model).metrics["NDCG@10"]


def test_markov_clearly_beats_popularity_with_defaults() -> None:
    split = LeaveOneOutSplit.from_sequences(load_dataset("synthetic", cache=False).sequences)
    pop, markov = _ndcg10(PopularityModel(), split), _ndcg10(MarkovModel(), split)
    assert markov > 2 * pop and markov - pop > 0.1


def test_structure_beyond_first_order() -> None:
    """Knowing the item ``echo_lag`` steps back adds to knowing the last item.

    An independent count-based scorer (not a library model) that adds the transition
    probabilities from the item 3 steps back to those from the last item must beat the last item
    alone, by a margin only longer-range structure can give.
    """
    ds = load_dataset("synthetic", cache=False)
    split = LeaveOneOutSplit.from_sequences(ds.sequences)
    train, n = split.train, ds.sequences.n_items
    user_of = train.user_index()

    def transitions(lag: int) -> np.ndarray:
        pos = np.flatnonzero(user_of[lag:] == user_of[:-lag]) + lag
        counts = np.zeros((n + 1, n + 1))
        np.add.at(counts, (train.items[pos - lag], train.items[pos]), 1)
        return counts / np.maximum(counts.sum(1, keepdims=True), 1)

    inputs, targets = split.test_inputs, split.test_targets()

    def hit_rate_at_10(scores: np.ndarray) -> float:
        scores = scores.copy()
        scores[:, 0] = -np.inf
        seen = np.zeros_like(scores, dtype=bool)
        seen[inputs.user_index(), inputs.items] = True
        seen[np.arange(len(targets)), targets] = False
        scores[seen] = -np.inf
        target_score = scores[np.arange(len(targets)), targets]
        rank = (scores >= target_score[:, None]).sum(1)  # the target counts itself: 1-based
        return float((rank <= 10).mean())

    first = transitions(1)[inputs.last(1)]
    both = first + transitions(3)[inputs.last(3)]
    assert hit_rate_at_10(both) > hit_rate_at_10(first) + 0.05
