import numpy as np
import pytest
import torch

from seqrec_bench.data import LeaveOneOutSplit, Sequences
from seqrec_bench.evaluation import Evaluator
from seqrec_bench.models import MarkovModel, NotFittedError, PopularityModel
from seqrec_bench.models.base import ConfigError, parse_overrides


def test_pop_scores_are_training_counts(tiny_split):
    model = PopularityModel().fit(tiny_split.train, seed=0)
    scores = model.score(tiny_split.test_inputs)
    expected = np.bincount(tiny_split.train.items, minlength=7)[1:]
    assert scores.shape == (5, 6)
    np.testing.assert_array_equal(scores[0].numpy(), expected)
    assert torch.equal(scores[0], scores[3])


def test_pop_never_counts_held_out_items():
    seqs = Sequences.from_lists([[1, 2, 5, 6], [1, 3, 5, 6], [2, 3, 5, 6]], n_items=6)
    split = LeaveOneOutSplit.from_sequences(seqs)
    scores = PopularityModel().fit(split.train, seed=0).score(split.test_inputs)
    assert scores[:, 4].sum() == 0 and scores[:, 5].sum() == 0


def test_score_before_fit():
    with pytest.raises(NotFittedError):
        MarkovModel().score(Sequences.from_lists([[1]], n_items=1))


def test_markov_first_order_counts():
    train = Sequences.from_lists([[1, 2, 3], [1, 2, 4], [1, 3], [2, 4]], n_items=4)
    model = MarkovModel(alpha=0.0, backoff_weight=0.0, select_on_validation=False).fit(train)
    probs = model.score(Sequences.from_lists([[1], [2], [3], [4, 2]], n_items=4))
    # P(.|1): 2 twice, 3 once; P(.|2): 3 once, 4 twice; 3 and 4 have no successors -> popularity
    np.testing.assert_allclose(probs[0].numpy(), [0, 2 / 3, 1 / 3, 0], atol=1e-6)
    np.testing.assert_allclose(probs[1].numpy(), [0, 0, 1 / 3, 2 / 3], atol=1e-6)
    pop = np.array([3, 3, 2, 2]) / 10
    np.testing.assert_allclose(probs[2].numpy(), pop, atol=1e-6)
    np.testing.assert_allclose(probs[3].numpy(), probs[1].numpy(), atol=1e-6)  # last item decides


def test_markov_transitions_do_not_cross_users():
    train = Sequences.from_lists([[1, 2], [3, 4]], n_items=4)
    model = MarkovModel(alpha=0.0, backoff_weight=0.0, select_on_validation=False).fit(train)
    probs = model.score(Sequences.from_lists([[2]], n_items=4))
    # item 2 ends user 0's sequence: the next user's first item is not its successor
    np.testing.assert_allclose(probs[0].numpy(), [0.25, 0.25, 0.25, 0.25], atol=1e-6)


def test_markov_backoff_breaks_ties_by_popularity():
    train = Sequences.from_lists([[1, 2], [3, 3, 3, 4]], n_items=4)
    model = MarkovModel(alpha=1.0, backoff_weight=0.1, select_on_validation=False).fit(train)
    s = model.score(Sequences.from_lists([[1]], n_items=4))[0]
    assert s[1] > s[2] > s[0]  # successor first, then the most popular unseen item


def test_markov_second_order_uses_the_pair():
    train = Sequences.from_lists([[1, 2, 3], [4, 2, 5], [1, 2, 3], [4, 2, 5]] * 3, n_items=5)
    model = MarkovModel(order=2, alpha=0.0, backoff_weight=0.01, select_on_validation=False).fit(
        train
    )
    s = model.score(Sequences.from_lists([[1, 2], [4, 2], [2]], n_items=5))
    assert s[0].argmax() == 2 and s[1].argmax() == 4  # items 3 and 5
    assert abs(float(s[2][2] - s[2][4])) < 1e-6  # no pair context -> first order: tie


def test_markov_selects_backoff_on_validation(cycle_sequences):
    split = LeaveOneOutSplit.from_sequences(cycle_sequences)
    validator = Evaluator(split.valid_inputs, split.valid_targets, metrics=["NDCG@10"])
    model = MarkovModel().fit(split.train, seed=0, validator=validator)
    # a grid search, reported as a selection (never as epochs), applied to the fitted config
    assert model.best_epoch is None and len(model.history) == 6
    sel = model.selection
    assert sel is not None and sel["field"] == "backoff_weight" and len(sel["scores"]) == 6
    assert sel["value"] == sel["grid"][int(np.argmax(sel["scores"]))]
    assert model.fitted_config().backoff_weight == sel["value"]
    assert model.config.backoff_weight == 0.01  # the requested config is left as it was
    refit = MarkovModel(select_on_validation=False).fit(split.train, seed=0, validator=validator)
    assert refit.selection is None and refit.fitted_config() == refit.config
    test = Evaluator(split.test_inputs, split.test_targets(), metrics=["NDCG@10"])
    pop = PopularityModel().fit(split.train, seed=0)
    assert test.evaluate(model).metrics["NDCG@10"] > 0.9
    assert test.evaluate(pop).metrics["NDCG@10"] < 0.5


def test_overrides_are_typed_and_checked():
    cfg = parse_overrides(
        MarkovModel.config_cls(), {"order": "2", "alpha": "0.5", "select_on_validation": "false"}
    )
    assert cfg.order == 2 and cfg.alpha == 0.5 and cfg.select_on_validation is False
    with pytest.raises(ConfigError, match="valid keys: order, alpha"):
        parse_overrides(MarkovModel.config_cls(), {"nope": "1"})
    with pytest.raises(ConfigError, match="order expects int"):
        parse_overrides(MarkovModel.config_cls(), {"order": "two"})
    with pytest.raises(ConfigError, match="order must be 1 or 2"):
        parse_overrides(MarkovModel.config_cls(), {"order": "3"})


def test_markov_dense_rows_built_on_the_device_equal_scipy_densifying():
    # the accelerator path (only the non-zeros travel, the block is filled where it lives),
    # run on the CPU against scipy's densifying
    import scipy.sparse as sp

    from seqrec_bench.models import markov

    rng = np.random.default_rng(0)
    dense = (rng.random((30, 17)) < 0.2) * rng.integers(1, 5, size=(30, 17))
    dense[5] = 0  # a context with no transition
    counts = sp.csr_matrix(dense.astype(np.float32))
    for rows in (np.array([3, 0, 29, 3, 11, 7, 7, 5]), np.array([5]), np.array([], dtype=int)):
        device = markov._dense_rows(counts, rows, torch.device("cpu"), on_host=False)
        host = markov._dense_rows(counts, rows, torch.device("cpu"))
        np.testing.assert_array_equal(device.numpy(), dense[rows].astype(np.float32))
        np.testing.assert_array_equal(host.numpy(), device.numpy())
