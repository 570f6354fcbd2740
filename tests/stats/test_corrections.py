"""Corrections against hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from seqrec_bench.stats import CORRECTIONS, benjamini_hochberg, bonferroni, holm, no_correction

P = [0.01, 0.04, 0.03, 0.005]


def test_holm_hand_worked():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    np.testing.assert_allclose(holm(P), [0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_keeps_order():
    # sorted: 0.2*3=0.6, 0.5*2=1.0, 0.9*1=0.9 -> running max 1.0; then capped
    np.testing.assert_allclose(holm([0.9, 0.2, 0.5]), [1.0, 0.6, 1.0])
    # sorted: 0.4*2=0.8, 0.6*1=0.6 -> running max keeps 0.8
    np.testing.assert_allclose(holm([0.4, 0.6]), [0.8, 0.8])


def test_holm_with_tied_pvalues():
    # sorted ties: 0.01*3=0.03, 0.01*2=0.02 -> max 0.03, 0.02*1 -> max 0.03
    np.testing.assert_allclose(holm([0.01, 0.02, 0.01]), [0.03, 0.03, 0.03])


def test_bonferroni_hand_worked():
    np.testing.assert_allclose(bonferroni(P), [0.04, 0.16, 0.12, 0.02])
    np.testing.assert_allclose(bonferroni([0.3, 0.6]), [0.6, 1.0])


def test_bh_hand_worked():
    # sorted: 0.005*4/1=0.02, 0.01*4/2=0.02, 0.03*4/3=0.04, 0.04*4/4=0.04
    np.testing.assert_allclose(benjamini_hochberg(P), [0.02, 0.04, 0.04, 0.02])
    # step-up: 0.01*3/1=0.03, 0.04*3/2=0.06 but 0.045*3/3=0.045 is smaller -> 0.045
    np.testing.assert_allclose(benjamini_hochberg([0.045, 0.01, 0.04]), [0.045, 0.03, 0.045])


def test_bh_matches_scipy(rng):
    p = rng.random(30) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p, method="bh"))


@pytest.mark.parametrize("fn", [holm, bonferroni, benjamini_hochberg, no_correction])
def test_properties(fn, rng):
    p = rng.random(12) ** 2
    adjusted = fn(p)
    assert adjusted.shape == p.shape
    assert np.all(adjusted >= p - 1e-15) and np.all(adjusted <= 1.0)
    order = np.argsort(p)
    assert np.all(np.diff(adjusted[order]) >= 0), "adjusted p-values keep the order of raw ones"


@pytest.mark.parametrize("fn", [holm, bonferroni, benjamini_hochberg, no_correction])
def test_empty_and_single(fn):
    assert fn([]).shape == (0,)
    np.testing.assert_allclose(fn([0.2]), [0.2])


@pytest.mark.parametrize("bad", [[0.1, np.nan], [1.2], [-0.1], [[0.1, 0.2]]])
def test_bad_pvalues_rejected(bad):
    with pytest.raises(ValueError):
        holm(bad)


def test_lookup():
    assert set(CORRECTIONS) == {"holm", "bonferroni", "bh", "none"}
    assert CORRECTIONS["bh"] is benjamini_hochberg
    np.testing.assert_allclose(CORRECTIONS["none"](P), P)
    with pytest.raises(ValueError, match="valid: holm, bonferroni, bh, none"):
        CORRECTIONS["fdr"]
