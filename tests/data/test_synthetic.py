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
from seqrec_bench.data.synthetic import planted_scores, planted_structure
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
    assert st["users"] == 10_000 and 450 <= st["items"] <= 500
    assert 10 <= st["length"]["mean"] <= 14 and st["length"]["min"] >= 5
    # users rarely consume an item twice, like MovieLens
    assert st["test_repeat_share"] < 0.05


def test_unknown_and_invalid_options() -> None:
    with pytest.raises(
        DatasetError, match=r"unknown synthetic option\(s\) n_user: valid options are n_users"
    ):
        load_dataset("synthetic", synthetic={"n_user": 10})
    with pytest.raises(DatasetError, match="sum to <= 1"):
        SyntheticConfig(p_successor=0.9, p_echo=0.2)
    with pytest.raises(DatasetError, match="topics_per_user must lie in"):
        SyntheticConfig(n_topics=3, topics_per_user=4)
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
    assert markov > 3 * pop and markov - pop > 0.07


def _transitions(train, n: int, lag: int) -> np.ndarray:
    """Row-normalised counts of (item ``lag`` steps back -> next item) inside each user."""
    user_of = train.user_index()
    pos = np.flatnonzero(user_of[lag:] == user_of[:-lag]) + lag
    counts = np.zeros((n + 1, n + 1))
    np.add.at(counts, (train.items[pos - lag], train.items[pos]), 1)
    return counts / np.maximum(counts.sum(1, keepdims=True), 1)


def _hit_rate_at_10(scores: np.ndarray, inputs, targets: np.ndarray) -> float:
    """PROTOCOL HR@10 (seen items masked, target kept, pessimistic ties), written independently."""
    scores = scores.copy()
    scores[:, 0] = -np.inf
    seen = np.zeros_like(scores, dtype=bool)
    seen[inputs.user_index(), inputs.items] = True
    seen[np.arange(len(targets)), targets] = False
    scores[seen] = -np.inf
    target_score = scores[np.arange(len(targets)), targets]
    rank = (scores >= target_score[:, None]).sum(1)  # the target counts itself: 1-based
    return float((rank <= 10).mean())


def test_history_beats_the_last_item_with_defaults() -> None:
    """The default data set holds structure that the last item alone cannot reveal.

    The generator's own probabilities (which know each user's topic from the history) must beat
    the transition counts from the last item -- what ``markov`` can know -- by a wide margin:
    the headroom a sequence model has.
    """
    config = SyntheticConfig()
    ds = load_dataset("synthetic", cache=False)
    split = LeaveOneOutSplit.from_sequences(ds.sequences)
    n, inputs, targets = ds.sequences.n_items, split.valid_inputs, split.valid_targets
    counts = np.bincount(split.train.items, minlength=n + 1)
    first = _transitions(split.train, n, 1)[inputs.last(1)] + 1e-3 * counts / counts.sum()

    oracle = planted_scores(config, ds.vocab, inputs)
    np.testing.assert_allclose(oracle.sum(1), 1.0)  # a probability distribution
    oracle += 1e-9 * counts

    assert _hit_rate_at_10(oracle, inputs, targets) > _hit_rate_at_10(first, inputs, targets) + 0.1


def test_echo_is_structure_beyond_first_order() -> None:
    """With ``p_echo`` on, the item ``echo_lag`` steps back adds to knowing the last item.

    An independent count-based scorer (not a library model) that adds the transition
    probabilities from the item 3 steps back to those from the last item must beat the last item
    alone, by a margin only longer-range structure can give.
    """
    options = {"n_users": 2000, "mean_length": 30, "p_echo": 0.2, "p_successor": 0.45}
    ds = load_dataset("synthetic", synthetic=options, cache=False)
    split = LeaveOneOutSplit.from_sequences(ds.sequences)
    n, inputs, targets = ds.sequences.n_items, split.valid_inputs, split.valid_targets
    first = _transitions(split.train, n, 1)[inputs.last(1)]
    both = first + _transitions(split.train, n, 3)[inputs.last(3)]
    assert _hit_rate_at_10(both, inputs, targets) > _hit_rate_at_10(first, inputs, targets) + 0.05


def test_users_draw_from_all_their_topics_and_only_those() -> None:
    config = SyntheticConfig(
        n_users=400,
        n_items=200,
        n_topics=10,
        topics_per_user=2,
        p_successor=0.0,
        p_noise=0.0,
        mean_length=10,
        seed=5,
    )
    records = generate_synthetic(config)
    planted = planted_structure(config)
    topics = planted.topic_of[records.items - 1]
    mine = planted.user_topics[records.users - 1]
    in_mine = (topics[:, None] == mine).any(axis=1)
    assert in_mine.mean() > 0.95  # (2 of 10 topics by chance: 0.2) the rest: redraws
    # both interests show up in most users' histories
    both = [len(set(topics[(records.users == u) & in_mine].tolist())) == 2 for u in range(1, 401)]
    assert np.mean(both) > 0.9
