import numpy as np
import pytest
import torch

from seqrec_bench.data import LeaveOneOutSplit, Sequences
from seqrec_bench.evaluation import Evaluator, sample_negatives
from seqrec_bench.evaluation.metrics import UNREACHABLE
from seqrec_bench.evaluation.ranking import seen_targets
from seqrec_bench.models import MarkovModel, PopularityModel
from seqrec_bench.models.base import Model


class RandomScores(Model):
    """Scores that depend only on the user's sequence (hash-like), with many ties."""

    name = "randomscores"
    description = "test model"

    def _fit(self, train, validator):
        pass

    def _score(self, batch):
        last = torch.from_numpy(batch.last(1))
        items = torch.arange(1, self.n_items + 1)
        return ((last.unsqueeze(1) * 7919 + items.unsqueeze(0) * 104729) % 13).float()


class NaNModel(RandomScores):
    name = "nanmodel"

    def _score(self, batch):
        s = super()._score(batch)
        s[-1, 0] = float("nan")
        return s


@pytest.fixture
def data(rng):
    seqs = [list(rng.integers(1, 41, size=rng.integers(3, 12))) for _ in range(157)]
    return LeaveOneOutSplit.from_sequences(Sequences.from_lists(seqs, n_items=40))


@pytest.mark.parametrize("model_cls", [RandomScores, PopularityModel, MarkovModel])
def test_ranks_do_not_depend_on_batch_size(data, model_cls):
    model = model_cls().fit(data.train, seed=0)
    reference = Evaluator(data.test_inputs, data.test_targets(), batch_size=157).ranks(model)
    for bs in (1, 7, 32, 1000):
        got = Evaluator(data.test_inputs, data.test_targets(), batch_size=bs).ranks(model)
        np.testing.assert_array_equal(got, reference)


def test_metrics_are_means_of_rank_functions(data):
    model = RandomScores().fit(data.train, seed=0)
    ev = Evaluator(data.test_inputs, data.test_targets(), metrics=["HR@10", "NDCG@5", "MRR"])
    result = ev.evaluate(model)
    r = result.ranks
    assert result.metrics["HR@10"] == pytest.approx(np.mean(r <= 10))
    assert result.metrics["NDCG@5"] == pytest.approx(
        np.mean(np.where(r <= 5, 1 / np.log2(r + 1), 0))
    )
    assert result.metrics["MRR"] == pytest.approx(np.mean(1 / r))


def test_non_finite_scores_are_an_error(data):
    model = NaNModel().fit(data.train, seed=0)
    with pytest.raises(ValueError, match="non-finite"):
        Evaluator(data.test_inputs, data.test_targets(), batch_size=50).ranks(model)


def test_k_larger_than_candidates_rejected(data):
    with pytest.raises(ValueError, match="larger than the 40 candidates"):
        Evaluator(data.test_inputs, data.test_targets(), metrics=["HR@50"])


def test_exclude_seen_switch(data):
    model = PopularityModel().fit(data.train, seed=0)
    masked = Evaluator(data.test_inputs, data.test_targets(), exclude_seen=True).ranks(model)
    unmasked = Evaluator(data.test_inputs, data.test_targets(), exclude_seen=False).ranks(model)
    repeat = seen_targets(data.test_targets(), data.test_inputs)
    assert (masked[~repeat] <= unmasked[~repeat]).all() and (masked < unmasked).any()
    assert (masked[repeat] == UNREACHABLE).all()  # a repeated target cannot be hit


def test_sampled_protocol_shared_negatives(data):
    full = Sequences.from_lists(
        [data.test_inputs[u].tolist() + [int(data.test_targets()[u])] for u in range(data.n_users)],
        n_items=40,
    )
    negs = sample_negatives(full, 20, seed=3, dataset_key="d")
    again = sample_negatives(full, 20, seed=3, dataset_key="d")
    np.testing.assert_array_equal(negs, again)  # same (dataset, seed) -> same negatives
    assert not np.array_equal(negs, sample_negatives(full, 20, seed=4, dataset_key="d"))
    for u in range(data.n_users):
        assert len(set(negs[u])) == 20
        assert not set(negs[u]) & set(full[u].tolist())
    model = PopularityModel().fit(data.train, seed=0)
    ranks = Evaluator(
        data.test_inputs, data.test_targets(), negatives=negs, metrics=["HR@10"]
    ).ranks(model)
    reachable = ~seen_targets(data.test_targets(), data.test_inputs)
    assert ranks.min() >= 1 and ranks[reachable].max() <= 21
    assert (ranks[~reachable] == UNREACHABLE).all()


def test_validation_and_test_negatives_are_separate_streams(data):
    seqs = Sequences.from_lists([[1, 2]] * 30, n_items=40)
    valid = sample_negatives(seqs, 10, seed=3, dataset_key="d", salt="valid")
    test = sample_negatives(seqs, 10, seed=3, dataset_key="d", salt="test")
    assert not np.array_equal(valid, test)
    # neither is another seed's stream of the other set (no seed + k overlap)
    for other in (2, 4):
        assert not np.array_equal(valid, sample_negatives(seqs, 10, seed=other, salt="test"))
    # the data set and the kind key the stream too
    assert not np.array_equal(test, sample_negatives(seqs, 10, seed=3, dataset_key="e"))
    with pytest.raises(ValueError, match="valid, test"):
        sample_negatives(seqs, 10, salt="validation")


def test_popularity_negatives_follow_popularity(rng):
    seqs = Sequences.from_lists([[1]] * 2000, n_items=50)
    pop = np.zeros(51)
    pop[1:] = np.arange(50, 0, -1) ** 2
    negs = sample_negatives(seqs, 5, kind="pop", popularity=pop, seed=0)
    counts = np.bincount(negs.ravel(), minlength=51)
    assert counts[2] > counts[25] > counts[50]
    assert counts[1] == 0  # the user's own item is never a negative


def test_too_few_unseen_items_for_sampling():
    seqs = Sequences.from_lists([[1, 2, 3, 4]], n_items=5)
    with pytest.raises(ValueError, match="cannot draw 3 negatives"):
        sample_negatives(seqs, 3)


def test_read_only_arrays_evaluate_without_warnings(data):
    """Arrays from Ray's object store are read-only: evaluation must neither warn nor write."""
    import warnings

    from seqrec_bench.models import PopularityModel

    targets = data.test_targets().copy()
    targets.setflags(write=False)
    inputs = data.test_inputs
    inputs.items.setflags(write=False)
    model = PopularityModel().fit(data.train, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ranks = Evaluator(inputs, targets, metrics=["HR@10"]).ranks(model)
    assert len(ranks) == len(targets)


def _reference_ranks(ev: Evaluator, model) -> np.ndarray:
    """The straightforward evaluation: file order, indices built per batch."""
    from seqrec_bench.evaluation.ranking import full_ranks

    out = []
    for start in range(0, ev.n_users, 23):
        batch = ev.inputs.select(slice(start, start + 23))
        scores = model.score(batch)
        targets = torch.from_numpy(ev.targets[start : start + 23].copy())
        out.append(full_ranks(scores, targets, batch if ev.exclude_seen else None))
    return torch.cat(out).numpy()


@pytest.mark.parametrize("exclude_seen", [True, False])
@pytest.mark.parametrize("model_cls", [RandomScores, PopularityModel, MarkovModel])
def test_length_ordered_blocks_give_the_straightforward_ranks(data, model_cls, exclude_seen):
    model = model_cls().fit(data.train, seed=0)
    ev = Evaluator(data.test_inputs, data.test_targets(), batch_size=16, exclude_seen=exclude_seen)
    np.testing.assert_array_equal(ev.ranks(model), _reference_ranks(ev, model))


def test_seen_index_is_built_once_per_device(data, monkeypatch):
    from seqrec_bench.evaluation import evaluator as module

    calls = []
    build = module._PreparedBatch.build.__func__

    def counting(cls, ev, users, device):
        calls.append(len(users))
        return build(cls, ev, users, device)

    monkeypatch.setattr(module._PreparedBatch, "build", classmethod(counting))
    model = RandomScores().fit(data.train, seed=0)
    ev = Evaluator(data.valid_inputs, data.valid_targets, batch_size=40)
    first = ev.ranks(model)
    n_blocks = len(calls)
    assert n_blocks == -(-data.valid_inputs.n_users // 40)
    for _ in range(3):  # the validator of a training run is asked every epoch
        np.testing.assert_array_equal(ev.ranks(model), first)
    assert len(calls) == n_blocks


class MinusInfScores(RandomScores):
    name = "minusinf"

    def _score(self, batch):
        s = super()._score(batch)
        s[:, 0] = float("-inf")  # "never this item" is allowed
        return s


def test_deferred_finite_check_tells_nan_from_minus_inf(data, monkeypatch):
    # the accelerator path (one check at the end, suspects scored again), forced on the CPU
    from seqrec_bench.evaluation import evaluator as module

    monkeypatch.setattr(module, "_defer_finite_check", lambda device: True)
    ev = Evaluator(data.test_inputs, data.test_targets(), batch_size=50)
    with pytest.raises(ValueError, match="non-finite"):
        ev.ranks(NaNModel().fit(data.train, seed=0))
    model = MinusInfScores().fit(data.train, seed=0)
    monkeypatch.setattr(module, "_defer_finite_check", lambda device: False)
    direct = Evaluator(data.test_inputs, data.test_targets(), batch_size=50).ranks(model)
    monkeypatch.setattr(module, "_defer_finite_check", lambda device: True)
    np.testing.assert_array_equal(ev.ranks(model), direct)
