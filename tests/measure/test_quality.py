"""One metric of a set of predictions, as the deeper evaluation asks for it on any subset of rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from taxiway.measure.cost import ErrorCosts
from taxiway.measure.predictions import Predictions
from taxiway.measure.quality import metric_interval, metric_value, subset
from taxiway.measure.scores import score_predictions

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 500)
SCORE = np.clip(Y * 0.3 + RNG.random(500) * 0.7, 0, 1)
BINARY = Predictions(
    np.arange(500),
    Y,
    (SCORE >= 0.5).astype(int),
    proba=np.column_stack([1 - SCORE, SCORE]),
    classes=np.array([0, 1]),
)


@pytest.mark.parametrize(
    "metric", ["accuracy", "roc_auc", "pr_auc", "log_loss", "f1", "brier", "balanced_accuracy"]
)
def test_metric_value_equals_the_scores_training_reports(metric: str) -> None:
    assert metric_value(BINARY, metric) == pytest.approx(score_predictions(BINARY)[metric])


def test_expected_cost_is_taken_at_the_given_threshold_not_reoptimised() -> None:
    costs = ErrorCosts(false_positive=1, false_negative=4)
    at_half = metric_value(BINARY, "expected_cost", costs=costs, threshold=0.5)
    predicted, positive = SCORE >= 0.5, Y == 1
    manual = (np.sum(predicted & ~positive) * 1 + np.sum(~predicted & positive) * 4) / len(Y)
    assert at_half == pytest.approx(manual)
    assert metric_value(BINARY, "expected_cost", costs=costs) <= at_half  # None: the best threshold here


def test_undefined_metrics_are_nan_and_have_no_interval() -> None:
    one_class = subset(BINARY, Y == 1)
    assert math.isnan(metric_value(one_class, "roc_auc"))
    assert metric_interval(one_class, "roc_auc", resamples=20) is None
    assert math.isnan(metric_value(subset(BINARY, np.zeros(500, dtype=bool)), "accuracy"))


def test_intervals_are_reproducible_and_narrow_with_more_rows() -> None:
    small = metric_interval(subset(BINARY, np.arange(500) < 100), "roc_auc", resamples=300, seed=1)
    again = metric_interval(subset(BINARY, np.arange(500) < 100), "roc_auc", resamples=300, seed=1)
    large = metric_interval(BINARY, "roc_auc", resamples=300, seed=1)
    assert small == again and small is not None and large is not None
    assert large.high - large.low < small.high - small.low
    assert large.low <= large.estimate <= large.high and large.resamples == 300
