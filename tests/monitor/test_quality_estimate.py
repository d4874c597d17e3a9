"""Confidence-based performance estimation (CBPE): right where calibration holds, wrong where it does not.

The estimate is what the monitoring page shows before labels arrive, so these tests hold it against the
realised figure on labelled rows drawn from known probabilities, and against a plain re-computation of the
expected ROC curve (every row weighted by its calibrated probability, rows in score order by argsort).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from taxiway.monitor.quality import calibrate, calibration_map, estimate_quality

pytestmark = pytest.mark.store_agnostic


def _expected_auc_by_argsort(cal: dict[str, list[float]], score: np.ndarray) -> float:
    """The expected ROC AUC computed the long way: rows sorted by score, each a positive with weight p."""
    order = np.argsort(-score, kind="stable")
    p = calibrate(cal, score)[order]
    tpr = np.concatenate([[0.0], np.cumsum(p) / p.sum()])
    fpr = np.concatenate([[0.0], np.cumsum(1 - p) / (1 - p).sum()])
    return float(np.trapezoid(tpr, fpr))


def test_the_estimate_is_the_expected_auc_of_the_calibrated_scores() -> None:
    rng = np.random.default_rng(3)
    score = np.round(rng.beta(2, 5, 20_000), 3)  # rounded: many ties, which the sort shortcut must survive
    cal = calibration_map(score, (rng.random(score.size) < score**0.7).astype(float))
    estimated = estimate_quality(cal, score, binary=True)["roc_auc"]
    assert estimated == pytest.approx(_expected_auc_by_argsort(cal, score), abs=1e-9)


def test_where_calibration_holds_the_estimate_lands_on_the_realised_auc() -> None:
    rng = np.random.default_rng(11)
    # A model whose scores are the true probabilities after an unknown monotone distortion: the isotonic map
    # fitted on one labelled sample undoes it, and a later sample from the same source is estimated.
    truth = rng.beta(1.5, 4, 120_000)
    score = truth**1.8
    outcome = rng.random(truth.size) < truth
    reference, later = slice(0, 60_000), slice(60_000, None)
    cal = calibration_map(score[reference], outcome[reference].astype(float))
    estimated = estimate_quality(cal, score[later], binary=True)
    realised = roc_auc_score(outcome[later], score[later])
    assert estimated["roc_auc"] == pytest.approx(realised, abs=0.01)
    assert estimated["accuracy"] == pytest.approx(np.mean((score[later] >= 0.5) == outcome[later]), abs=0.01)


def test_when_the_outcome_rate_moves_the_estimate_misses() -> None:
    """Concept drift the scores cannot see: the same scores, but outcomes no longer follow them. The estimate
    still reads as before, which is why realised quality from feedback has the last word."""
    rng = np.random.default_rng(5)
    truth = rng.beta(1.5, 4, 80_000)
    outcome = rng.random(truth.size) < truth
    cal = calibration_map(truth[:40_000], outcome[:40_000].astype(float))
    shuffled = rng.permutation(outcome[40_000:])  # labels unrelated to the scores: realised AUC ~ 0.5
    estimated = estimate_quality(cal, truth[40_000:], binary=True)["roc_auc"]
    realised = roc_auc_score(shuffled, truth[40_000:])
    assert realised == pytest.approx(0.5, abs=0.02)
    assert estimated is not None and estimated - realised > 0.15


def test_no_rows_and_one_sided_calibration_give_no_estimate() -> None:
    assert estimate_quality({"x": [0.0, 1.0], "y": [0.0, 1.0]}, np.array([]), binary=True)["roc_auc"] is None
    all_positive = {"x": [0.0, 1.0], "y": [1.0, 1.0]}  # every row certain to be positive: no ROC curve
    assert estimate_quality(all_positive, np.array([0.2, 0.8]), binary=True)["roc_auc"] is None
