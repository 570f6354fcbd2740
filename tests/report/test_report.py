"""Report computation (PROTOCOL §5) against values worked out independently in the tests."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from seqrec_bench.report import Report
from seqrec_bench.stats import bootstrap_ci, holm

from .conftest import GRU4REC, POP, SASREC

METRICS = ["HR@10", "NDCG@10"]


# Independent scalar references of PROTOCOL §4, written plainly.
def hr(rank: int, k: int = 10) -> float:
    return 1.0 if rank <= k else 0.0


def ndcg(rank: int, k: int = 10) -> float:
    return 1.0 / math.log2(rank + 1) if rank <= k else 0.0


def per_user(ranks: np.ndarray, fn) -> list[float]:
    return [fn(int(r)) for r in ranks]


def test_cell_means_single_seed(ranks):
    report = Report.from_ranks(ranks, metrics=METRICS)
    for model, r in (("SASRec", SASREC), ("GRU4Rec", GRU4REC), ("Pop", POP)):
        assert report.cell(model, "HR@10").mean == pytest.approx(sum(per_user(r, hr)) / 8)
        assert report.cell(model, "NDCG@10").mean == pytest.approx(sum(per_user(r, ndcg)) / 8)
        assert report.cell(model, "HR@10").std is None
        assert report.cell(model, "HR@10").n_seeds == 1
    assert report.cell("GRU4Rec", "HR@10").mean == 0.75  # 6 of 8 users within the top 10


def test_cell_means_and_std_over_seeds(seeded_ranks):
    report = Report.from_ranks(seeded_ranks, metrics=METRICS)
    seed_means = [sum(per_user(r, ndcg)) / 8 for r in seeded_ranks["ml-1m"]["SASRec"]]
    cell = report.cell("SASRec", "NDCG@10")
    assert cell.mean == pytest.approx((seed_means[0] + seed_means[1]) / 2)
    # sample std (ddof=1) of two values is |a - b| / sqrt(2)
    assert cell.std == pytest.approx(abs(seed_means[0] - seed_means[1]) / math.sqrt(2))
    assert cell.n_seeds == 2
    # GRU4Rec HR: seed 1 hits 6/8, seed 2 hits 6/8 -> std 0
    assert report.cell("GRU4Rec", "HR@10").mean == 0.75
    assert report.cell("GRU4Rec", "HR@10").std == 0.0
    assert report.cell("Pop", "HR@10").std is None


def test_tests_use_per_user_values_averaged_over_seeds(seeded_ranks):
    report = Report.from_ranks(seeded_ranks, metrics=METRICS, correction="none")
    sas = np.mean([per_user(r, ndcg) for r in seeded_ranks["ml-1m"]["SASRec"]], axis=0)
    gru = np.mean([per_user(r, ndcg) for r in seeded_ranks["ml-1m"]["GRU4Rec"]], axis=0)
    expected = stats.ttest_rel(gru, sas).pvalue
    assert report.cell("GRU4Rec", "NDCG@10").pvalue == pytest.approx(expected)


@pytest.mark.parametrize("test", ["ttest", "wilcoxon", "permutation"])
def test_each_test_is_applied(ranks, test):
    report = Report.from_ranks(ranks, metrics=["NDCG@10"], test=test, correction="none")
    gru, sas = per_user(GRU4REC, ndcg), per_user(SASREC, ndcg)
    expected = {
        "ttest": lambda: stats.ttest_rel(gru, sas).pvalue,
        "wilcoxon": lambda: stats.wilcoxon(gru, sas).pvalue,
        # 2**8 = 256 swaps <= 10,000 resamples: scipy enumerates them, no randomness
        "permutation": lambda: (
            stats.permutation_test(
                (np.array(gru), np.array(sas)),
                lambda x, y, axis: np.mean(x - y, axis=axis),
                permutation_type="samples",
            ).pvalue
        ),
    }[test]()
    assert report.cell("GRU4Rec", "NDCG@10").pvalue == pytest.approx(expected)
    assert report.summary()["comparisons"]["NDCG@10"]["test"] == test


def test_default_reference_is_the_best_model_per_column():
    # HR@10: B hits 3 of 4, A 2 of 4. NDCG@10: A has two rank-1 hits and wins.
    ranks = {"d": {"A": [np.array([1, 1, 50, 50])], "B": [np.array([5, 6, 7, 50])]}}
    report = Report.from_ranks(ranks, metrics=METRICS)
    assert report.reference("HR@10") == "B"
    assert report.reference("NDCG@10") == "A"
    assert report.cell("B", "HR@10").is_reference and not report.cell("A", "HR@10").is_reference


def test_reference_on_an_exact_tie_is_the_first_model():
    same = np.array([1, 3, 20])
    report = Report.from_ranks({"d": {"X": [same], "Y": [same.copy()]}}, metrics=["HR@10"])
    assert report.reference("HR@10") == "X"
    assert report.cell("Y", "HR@10").pvalue == 1.0


def test_given_reference_is_used_in_every_column(ranks):
    report = Report.from_ranks(ranks, metrics=METRICS, reference="GRU4Rec")
    assert report.reference("HR@10") == report.reference("NDCG@10") == "GRU4Rec"
    assert report.cell("SASRec", "HR@10").rel_diff_pct == pytest.approx(100 * (1.0 - 0.75) / 0.75)
    # best is still judged on the values, not on the reference
    assert report.cell("SASRec", "HR@10").place == 1


def test_missing_reference_is_an_error(two_datasets):
    with pytest.raises(ValueError, match="reference model 'Pop' has no results on 'beauty'"):
        Report.from_ranks(two_datasets, metrics=METRICS, reference="Pop")


def test_best_and_second_places_with_ties():
    # HR@10 means: A 0.75, B 0.75 (tie), C 0.5, D 0.25 -> A, B best; C second; D none
    ranks = {
        "d": {
            "A": [np.array([1, 2, 3, 50])],
            "B": [np.array([9, 8, 7, 50])],
            "C": [np.array([1, 50, 2, 50])],
            "D": [np.array([50, 50, 50, 4])],
        }
    }
    report = Report.from_ranks(ranks, metrics=["HR@10"])
    places = {m: report.cell(m, "HR@10").place for m in "ABCD"}
    assert places == {"A": 1, "B": 1, "C": 2, "D": None}


def test_places_are_judged_on_displayed_values():
    # MRR 1/3 = 0.3333 and 1/3 + a tiny bit look the same at 2 decimals
    report_ranks = {
        "d": {
            "A": [np.array([3] * 999 + [2])],  # mean just above 1/3
            "B": [np.array([3] * 1000)],  # exactly 1/3
            "C": [np.array([4] * 1000)],
        }
    }
    two = Report.from_ranks(report_ranks, metrics=["MRR"], decimals=2)
    assert [two.cell(m, "MRR").place for m in "ABC"] == [1, 1, 2]
    six = Report.from_ranks(report_ranks, metrics=["MRR"], decimals=6)
    assert [six.cell(m, "MRR").place for m in "ABC"] == [1, 2, None]


def test_marker_logic_follows_adjusted_pvalues(ranks):
    report = Report.from_ranks(ranks, metrics=METRICS)
    for metric in METRICS:
        others = ["GRU4Rec", "Pop"]
        raw = [report.cell(m, metric).pvalue for m in others]
        np.testing.assert_allclose([report.cell(m, metric).pvalue_adj for m in others], holm(raw))
        for m in others:
            cell = report.cell(m, metric)
            assert cell.significant == (cell.pvalue_adj < 0.05)
    assert report.cell("Pop", "HR@10").significant  # misses everyone SASRec hits: p = 0
    assert not report.cell("GRU4Rec", "HR@10").significant  # 2 users differ: p ~ 0.17
    ref = report.cell("SASRec", "HR@10")
    assert (ref.pvalue, ref.pvalue_adj, ref.significant) == (None, None, None)


def test_alpha_and_correction_move_the_markers(ranks):
    # raw p of GRU4Rec vs SASRec on NDCG@10 is ~0.086
    loose = Report.from_ranks(ranks, metrics=["NDCG@10"], alpha=0.1, correction="none")
    assert loose.cell("GRU4Rec", "NDCG@10").significant
    held = Report.from_ranks(ranks, metrics=["NDCG@10"], alpha=0.1, correction="bonferroni")
    assert held.cell("GRU4Rec", "NDCG@10").pvalue_adj == pytest.approx(
        2 * held.cell("GRU4Rec", "NDCG@10").pvalue
    )
    assert not held.cell("GRU4Rec", "NDCG@10").significant


def test_correction_is_within_one_column_only(two_datasets):
    multi = Report.from_ranks(two_datasets, metrics=METRICS, correction="bonferroni")
    single = Report.from_ranks(
        {"ml-1m": two_datasets["ml-1m"]}, metrics=METRICS, correction="bonferroni"
    )
    # adding a dataset (more columns) must not change the adjustment of ml-1m's columns
    for m in ("GRU4Rec", "Pop"):
        assert multi.cell(m, "NDCG@10", "ml-1m").pvalue_adj == single.cell(m, "NDCG@10").pvalue_adj
    # beauty has a single comparison: nothing to adjust
    cell = multi.cell("SASRec", "NDCG@10", "beauty")
    assert cell.pvalue_adj == cell.pvalue


def test_relative_difference(ranks):
    report = Report.from_ranks(ranks, metrics=METRICS)
    assert report.cell("GRU4Rec", "HR@10").rel_diff_pct == pytest.approx(-25.0)
    assert report.cell("Pop", "HR@10").rel_diff_pct == pytest.approx(-100.0)
    assert report.cell("SASRec", "HR@10").rel_diff_pct == 0.0


def test_relative_difference_to_a_zero_reference_is_undefined():
    ranks = {"d": {"A": [np.array([50, 50])], "B": [np.array([1, 50])]}}
    report = Report.from_ranks(ranks, metrics=["HR@10"], reference="A")
    assert report.cell("B", "HR@10").rel_diff_pct is None


def test_bootstrap_ci(ranks):
    report = Report.from_ranks(ranks, metrics=["NDCG@10"], bootstrap=True, bootstrap_seed=3)
    cell = report.cell("GRU4Rec", "NDCG@10")
    diff = np.array(per_user(GRU4REC, ndcg)) - np.array(per_user(SASREC, ndcg))
    expected = bootstrap_ci(diff, seed=3)
    assert (cell.ci_low, cell.ci_high) == pytest.approx(tuple(expected))
    assert cell.ci_low <= diff.mean() <= cell.ci_high
    again = Report.from_ranks(ranks, metrics=["NDCG@10"], bootstrap=True, bootstrap_seed=3)
    assert again.cell("GRU4Rec", "NDCG@10") == cell
    assert report.cell("SASRec", "NDCG@10").ci_low is None  # the reference
    # Computed whether shown or not: bootstrap=False only keeps it out of the tables.
    plain = Report.from_ranks(ranks, metrics=["NDCG@10"], bootstrap_seed=3)
    assert plain.cell("GRU4Rec", "NDCG@10") == cell
    assert "bootstrap" in report.card and "bootstrap" not in plain.card
    assert "[" not in plain.to_markdown() and f"[{cell.ci_low:+.4f}, " in report.to_markdown()
    off = Report.from_ranks(ranks, metrics=["NDCG@10"], bootstrap_resamples=0)
    assert off.cell("GRU4Rec", "NDCG@10").ci_low is None
    assert off.to_dict()["settings"]["bootstrap"] is None
    with pytest.raises(ValueError, match="bootstrap_resamples"):
        Report.from_ranks(ranks, metrics=["NDCG@10"], bootstrap=True, bootstrap_resamples=0)
    with pytest.raises(ValueError, match="bootstrap_resamples"):
        Report.from_ranks(ranks, metrics=["NDCG@10"], bootstrap_resamples=-1)


def test_bootstrap_ci_of_every_comparison_resamples_users_jointly(two_datasets):
    # One set of resamples per dataset, shared by every model and metric: each CI equals the
    # one of its own difference resampled alone with the same seed.
    report = Report.from_ranks(two_datasets, metrics=METRICS, bootstrap_seed=5)
    fns = {"HR@10": hr, "NDCG@10": ndcg}
    checked = 0
    for c in report.cells():
        if c.is_reference:
            assert c.ci_low is None and c.ci_high is None
            continue
        ref_ranks = two_datasets[c.dataset][c.reference][0]
        diff = np.array(per_user(two_datasets[c.dataset][c.model][0], fns[c.metric])) - np.array(
            per_user(ref_ranks, fns[c.metric])
        )
        alone = bootstrap_ci(diff, seed=5)
        assert (c.ci_low, c.ci_high) == pytest.approx(tuple(alone), rel=1e-12, abs=1e-15)
        assert c.ci_low <= diff.mean() <= c.ci_high
        checked += 1
    assert checked == 2 * 2 + 1 * 2  # two others on ml-1m, one on beauty, two metrics


def test_improvement_of(ranks, two_datasets):
    report = Report.from_ranks(ranks, metrics=METRICS, improvement_of="GRU4Rec")
    imp = report.improvement("HR@10")
    # GRU4Rec 0.75 vs the best other (SASRec 1.0)
    assert (imp.over, imp.pct) == ("SASRec", pytest.approx(-25.0))
    pop_vs = Report.from_ranks(ranks, metrics=["HR@10"], improvement_of="SASRec").improvement(
        "HR@10"
    )
    assert (pop_vs.over, pop_vs.pct) == ("GRU4Rec", pytest.approx(100 * 0.25 / 0.75))
    multi = Report.from_ranks(two_datasets, metrics=METRICS, improvement_of="Pop")
    missing = multi.improvement("HR@10", "beauty")
    assert (missing.over, missing.pct) == (None, None)
    with pytest.raises(ValueError, match="improvement_of model 'BERT4Rec'"):
        Report.from_ranks(ranks, metrics=METRICS, improvement_of="BERT4Rec")


def test_multi_dataset_keeps_order_and_missing_models(two_datasets):
    report = Report.from_ranks(two_datasets, metrics=METRICS)
    assert report.datasets == ("ml-1m", "beauty")
    assert report.models == ("SASRec", "GRU4Rec", "Pop")
    assert report.n_users == {"ml-1m": 8, "beauty": 5}
    assert report.cell("Pop", "HR@10", "beauty") is None
    assert report.reference("HR@10", "ml-1m") == "SASRec"
    assert report.reference("NDCG@10", "beauty") == "GRU4Rec"
    with pytest.raises(ValueError, match="several datasets"):
        report.cell("Pop", "HR@10")


def test_rank_input_shapes(ranks):
    as_2d = {"ml-1m": {m: np.stack(v) for m, v in ranks["ml-1m"].items()}}
    as_1d = {"ml-1m": {m: v[0] for m, v in ranks["ml-1m"].items()}}
    expected = Report.from_ranks(ranks, metrics=METRICS).cells()
    assert Report.from_ranks(as_2d, metrics=METRICS).cells() == expected
    assert Report.from_ranks(as_1d, metrics=METRICS).cells() == expected


def test_metric_labels_are_normalised(ranks):
    report = Report.from_ranks(ranks, metrics=["hr@10", "Recall@5", "mrr"])
    assert report.metrics == ("HR@10", "HR@5", "MRR")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test": "ztest"}, "unknown test 'ztest'; valid: ttest, wilcoxon, permutation"),
        ({"correction": "fdr"}, "valid: holm, bonferroni, bh, none"),
        ({"alpha": 0.0}, "alpha"),
        ({"metrics": ["HR@10", "hr@10"]}, "duplicate"),
        ({"metrics": ["AUC"]}, "unknown metric"),
        ({"card": {"alpha": "0.01"}}, "written by the report"),
        ({"extra_columns": {"ml-1m": {"BERT4Rec": {"params": 1.0}}}}, "BERT4Rec"),
    ],
)
def test_bad_arguments(ranks, kwargs, message):
    kwargs = {"metrics": METRICS, **kwargs}
    with pytest.raises(ValueError, match=message):
        Report.from_ranks(ranks, **kwargs)


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ({}, "no results"),
        ({"d": {}}, "no models"),
        ({"d": {"A": []}}, "no rank arrays"),
        ({"d": {"A": [np.array([1, 2])], "B": [np.array([1, 2, 3])]}}, "same users"),
        ({"d": {"A": [np.array([1.5, 2.0])]}}, "integers"),
        ({"d": {"A": [np.array([0, 2])]}}, ">= 1"),
    ],
)
def test_bad_results(results, message):
    with pytest.raises(ValueError, match=message):
        Report.from_ranks(results, metrics=["HR@10"])


def test_summary_shape_single_dataset(seeded_ranks):
    summary = Report.from_ranks(seeded_ranks, metrics=METRICS).summary()
    assert set(summary) == {"models", "comparisons"}
    assert list(summary["models"]) == ["SASRec", "GRU4Rec", "Pop"]
    sas = summary["models"]["SASRec"]
    assert list(sas) == ["HR@10", "NDCG@10", "std"]
    assert list(sas["std"]) == ["HR@10", "NDCG@10"]
    assert summary["models"]["Pop"]["std"] == {"HR@10": None, "NDCG@10": None}
    comp = summary["comparisons"]["HR@10"]
    assert comp == {
        "reference": "SASRec",
        "test": "ttest",
        "correction": "holm",
        "alpha": 0.05,
        "results": comp["results"],
    }
    assert list(comp["results"]) == ["GRU4Rec", "Pop"]
    # The bootstrap CI is part of the digest by default (PROTOCOL §5), shown or not.
    assert set(comp["results"]["Pop"]) == {
        "pvalue",
        "pvalue_adj",
        "significant",
        "rel_diff_pct",
        "ci_low",
        "ci_high",
    }
    assert comp["results"]["Pop"]["significant"] is True
    pop = comp["results"]["Pop"]
    assert pop["ci_low"] <= pop["ci_high"] < 0  # Pop hits nobody, SASRec everybody
    json.dumps(summary, allow_nan=False)


def test_summary_shape_several_datasets(two_datasets):
    report = Report.from_ranks(
        two_datasets, metrics=METRICS, bootstrap=True, improvement_of="SASRec"
    )
    summary = report.summary()
    assert list(summary) == ["datasets"]
    assert list(summary["datasets"]) == ["ml-1m", "beauty"]
    beauty = summary["datasets"]["beauty"]
    assert list(beauty["models"]) == ["SASRec", "GRU4Rec"]
    assert set(beauty["comparisons"]["HR@10"]["results"]["SASRec"]) == {
        "pvalue",
        "pvalue_adj",
        "significant",
        "rel_diff_pct",
        "ci_low",
        "ci_high",
    }
    assert beauty["improvement"]["model"] == "SASRec"
    assert beauty["improvement"]["over"] == {"HR@10": "GRU4Rec", "NDCG@10": "GRU4Rec"}
    json.dumps(summary, allow_nan=False)


def test_to_dict_and_json(two_datasets):
    report = Report.from_ranks(
        two_datasets,
        metrics=METRICS,
        card={"split": "leave-one-out"},
        provenance="seqrec_bench 0.1.0",
        extra_columns={"beauty": {"SASRec": {"train s": float("nan")}}},
    )
    data = json.loads(report.to_json())
    assert data == json.loads(json.dumps(report.to_dict()))
    assert data["datasets"] == ["ml-1m", "beauty"]
    assert data["n_users"] == {"ml-1m": 8, "beauty": 5}
    assert data["settings"]["test"] == "ttest"
    assert data["settings"]["bootstrap"] == {
        "confidence": 0.95,
        "n_resamples": 10000,
        "seed": 0,
        "shown": False,
    }
    pop = next(c for c in data["cells"] if c["model"] == "Pop" and c["metric"] == "HR@10")
    assert pop["ci_low"] is not None and pop["ci_low"] <= pop["ci_high"]
    assert len(data["cells"]) == 3 * 2 + 2 * 2
    assert data["cells"][0]["model"] == "SASRec" and data["cells"][0]["place"] == 1
    assert data["extra_columns"]["beauty"]["SASRec"]["train s"] is None  # NaN is not JSON
    assert list(data["card"]) == ["split", "test", "correction", "alpha"]
    assert data["provenance"] == "seqrec_bench 0.1.0"
    assert "paired t-test" in data["footnote"]


def test_to_json_writes_a_file(ranks, tmp_path):
    report = Report.from_ranks(ranks, metrics=METRICS)
    path = tmp_path / "table.json"
    text = report.to_json(path)
    assert path.read_text(encoding="utf-8") == text
