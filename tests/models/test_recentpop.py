"""recentpop: counts in a window ending at the prediction time, against hand-computed counts."""

from __future__ import annotations

import numpy as np
import pytest

from seqrec_bench.data import Sequences
from seqrec_bench.errors import ConfigError
from seqrec_bench.models.recentpop import (
    RecentPopConfig,
    RecentPopModel,
    _PrefixCounts,
    infer_time_unit,
    parse_window,
)

DAY = 86_400


def _train() -> Sequences:
    # item@day: user 0: 1@0 2@1 2@2 ; user 1: 3@3 3@10 1@11 ; user 2: 2@5
    seqs = Sequences.from_lists([[1, 2, 2], [3, 3, 1], [2]], n_items=4)
    return seqs.with_times(np.array([0, 1, 2, 3, 10, 11, 5]) * DAY)


def _query(days: list[int]) -> Sequences:
    q = Sequences.from_lists([[4, 4]] * len(days), n_items=4)
    return q.with_times(np.repeat(np.array(days) * DAY, 2))


def _window_counts(window: str, days: list[int]) -> np.ndarray:
    model = RecentPopModel(window=window, select_on_validation=False).fit(_train())
    return model.score(_query(days)).floor().numpy()


def test_day_window_counts_the_training_interactions_in_t_minus_w_to_t():
    # at day 3, a 2-day window is (1, 3]: 2@2, 3@3
    np.testing.assert_array_equal(_window_counts("2d", [3]), [[0, 1, 1, 0]])
    # at day 11, 7 days is (4, 11]: 2@5, 3@10, 1@11 (the prediction moment itself counts)
    np.testing.assert_array_equal(_window_counts("7d", [11]), [[1, 1, 1, 0]])


def test_interaction_window_counts_the_latest_n_up_to_t():
    # the 3 latest up to day 5: 2@2, 3@3, 2@5
    np.testing.assert_array_equal(_window_counts("3", [5]), [[0, 2, 1, 0]])
    # before any training interaction: nothing
    np.testing.assert_array_equal(_window_counts("3", [-1]), [[0, 0, 0, 0]])


def test_all_window_is_popularity_up_to_the_prediction_time_never_after():
    np.testing.assert_array_equal(_window_counts("all", [2]), [[1, 2, 0, 0]])
    np.testing.assert_array_equal(_window_counts("all", [100]), [[2, 3, 2, 0]])


def test_ties_in_the_window_are_broken_by_popularity_up_to_t_never_beyond_one_count():
    model = RecentPopModel(window="1", select_on_validation=False).fit(_train())
    scores = model.score(_query([11])).numpy()[0]
    # window = {1@11}: item 1 first; items 2 (3 up to t) and 3 (2) tie at 0 and keep their order
    assert scores[0] > scores[1] > scores[2] > scores[3]
    assert scores[1] < 1.0


def test_prefix_counts_match_a_bincount_of_every_prefix_for_any_block_size(monkeypatch):
    import seqrec_bench.models.recentpop as rp

    rng = np.random.default_rng(0)
    items = rng.integers(0, 7, size=500)
    for budget in (1 << 26, 50, 7):
        monkeypatch.setattr(rp, "_CHECKPOINT_BUDGET", budget)
        prefix = _PrefixCounts(items, 7)
        pos = np.array([0, 1, 37, 250, 499, 500])
        expected = np.stack([np.bincount(items[:p], minlength=7) for p in pos])
        np.testing.assert_array_equal(prefix.counts(pos), expected)


def test_the_window_is_chosen_on_validation_and_recorded():
    class Recorder:
        metric_labels = ["NDCG@10"]

        def __init__(self):
            self.seen = []

        def evaluate(self, model):
            self.seen.append(model._window)

            class R:
                metrics = {"NDCG@10": 1.0 if model._window == ("days", 7.0) else 0.5}
                seconds = 0.0

            return R()

    validator = Recorder()
    model = RecentPopModel().fit(_train(), validator=validator)
    assert model.selection["value"] == "7d"
    assert model.fitted_config().window == "7d"
    assert len(validator.seen) == len(RecentPopConfig().windows)


def test_without_timestamps_it_says_it_cannot_run():
    with pytest.raises(ConfigError, match="recentpop needs timestamps"):
        RecentPopModel().fit(Sequences.from_lists([[1, 2]], n_items=2))


def test_bad_windows_are_config_errors():
    with pytest.raises(ConfigError, match="window"):
        RecentPopModel(window="week")
    assert parse_window("1.5d") == ("days", 1.5)
    assert infer_time_unit(np.array([1.6e12])) == "ms"


def test_the_harness_refuses_recentpop_on_data_without_timestamps(tmp_path):
    from seqrec_bench.config import DatasetSpec, ModelSpec, RunConfig
    from seqrec_bench.plan import build_plan

    cfg = RunConfig(
        datasets=[DatasetSpec("synthetic", options={"synthetic": {"n_users": 50}})],
        models=[ModelSpec("recentpop", "recentpop")],
    )
    with pytest.raises(ConfigError, match="needs timestamps"):
        build_plan(cfg)
