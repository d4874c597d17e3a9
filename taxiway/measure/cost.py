"""The expected cost of a model's errors, given the cost of each kind, and the threshold that minimises it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from taxiway.measure.predictions import Predictions


@dataclass(frozen=True)
class ErrorCosts:
    """Cost of each kind of error, in any one unit (the charter's: ``Charter.error_costs()``)."""

    false_positive: float = 1.0
    false_negative: float = 1.0
    over_prediction: float = 1.0
    under_prediction: float = 1.0


@dataclass(frozen=True)
class CostResult:
    """Mean cost per row; for binary classifiers also the decision threshold that gives it."""

    expected_cost: float
    threshold: float | None = None


def expected_cost(predictions: Predictions, costs: ErrorCosts) -> CostResult:
    """The mean cost per row of the model's errors.

    Binary classifiers are judged at the threshold on the positive-class score that minimises the cost on
    these rows (the threshold is part of the model a team would ship). Multi-class: each wrong label costs
    the mean of the two error costs. Regression: each unit too high costs ``over_prediction``, each unit
    too low ``under_prediction``.

    Example:
        >>> p = Predictions(row_key=np.arange(4), y_true=np.array([0, 0, 1, 1]),
        ...                 y_pred=np.array([0, 0, 0, 1]), classes=np.array([0, 1]),
        ...                 proba=np.array([[.9, .1], [.6, .4], [.7, .3], [.2, .8]]))
        >>> expected_cost(p, ErrorCosts(false_positive=1, false_negative=5))
        CostResult(expected_cost=0.25, threshold=0.3)
    """
    if predictions.task == "regression":
        error = predictions.y_pred.astype(float) - predictions.y_true.astype(float)
        cost = np.where(error > 0, error * costs.over_prediction, -error * costs.under_prediction)
        return CostResult(float(cost.mean()))
    if predictions.is_binary and predictions.proba is not None and predictions.classes is not None:
        return _best_threshold(
            predictions.positive_score(), predictions.y_true == predictions.classes[1], costs
        )
    wrong = predictions.y_pred != predictions.y_true
    return CostResult(float(wrong.mean() * (costs.false_positive + costs.false_negative) / 2))


def cost_curve(
    score: np.ndarray, is_positive: np.ndarray, costs: ErrorCosts
) -> tuple[np.ndarray, np.ndarray]:
    """Expected cost at every distinct threshold ``t`` (predict positive when score >= t), vectorised.

    Returns (thresholds ascending, mean cost at each); the last threshold is above every score (all negative).
    """
    order = np.argsort(score, kind="stable")
    sorted_score, sorted_positive = score[order], is_positive[order].astype(float)
    n = len(score)
    thresholds, first = np.unique(sorted_score, return_index=True)
    # Rows below index i are predicted negative: false negatives are the positives among them.
    positives_below = np.concatenate([[0.0], np.cumsum(sorted_positive)])
    false_negatives = positives_below[first]
    negatives_at_or_above = (n - first) - (positives_below[-1] - positives_below[first])
    cost = (false_negatives * costs.false_negative + negatives_at_or_above * costs.false_positive) / n
    all_negative = positives_below[-1] * costs.false_negative / n
    return np.append(thresholds, np.nextafter(thresholds[-1], np.inf)), np.append(cost, all_negative)


def _best_threshold(score: np.ndarray, is_positive: np.ndarray, costs: ErrorCosts) -> CostResult:
    thresholds, cost = cost_curve(score, is_positive, costs)
    best = int(np.argmin(cost))
    return CostResult(float(cost[best]), float(thresholds[best]))
