"""Quality of predictions on one metric, at the decision threshold a run ships with, and its interval.

Every deeper evaluation (slices, groups, staleness, feature value) asks the same question of a subset of
rows: what is the ranking metric here? These helpers answer it one way, with the definitions of
:mod:`taxiway.measure.weighted` (which equal :func:`taxiway.measure.scores.score_predictions`), so a
slice's value and its bootstrap interval come from the same formula.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from taxiway.measure.bootstrap import DEFAULT_LEVEL, Interval
from taxiway.measure.cost import ErrorCosts
from taxiway.measure.metrics import Task
from taxiway.measure.predictions import Predictions
from taxiway.measure.scores import score_predictions
from taxiway.measure.weighted import evaluate_block, row_metrics

# Index-matrix block of a bootstrap, as in taxiway.measure.bootstrap: 32 MB of int64 indices at most.
_BLOCK_INDICES = 4_000_000

__all__ = ["metric_interval", "metric_value", "predict_rows", "subset"]


def predict_rows(model: Any, x: pd.DataFrame, y: pd.Series, task: Task) -> Predictions:
    """What ``model`` says about the rows ``x`` (true values ``y``), keyed by the frame's index.

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]}); y = pd.Series([0, 0, 1, 1])
        >>> p = predict_rows(LogisticRegression().fit(x, y), x, y, "classification")
        >>> p.y_pred.tolist(), p.proba.shape
        ([0, 0, 1, 1], (4, 2))
    """
    row_key = np.asarray(x.index)
    if task == "regression":
        return Predictions(row_key, y.to_numpy(), np.asarray(model.predict(x), dtype=float))
    proba = np.asarray(model.predict_proba(x), dtype=float)
    classes = np.asarray(model.classes_)
    best = np.argmax(np.nan_to_num(proba, nan=-np.inf), axis=1)
    return Predictions(row_key, y.to_numpy(), classes[best], proba=proba, classes=classes)


def subset(predictions: Predictions, rows: NDArray[Any]) -> Predictions:
    """The predictions of some rows, given as a boolean mask or positions.

    Example:
        >>> p = Predictions(np.arange(3), np.array([1.0, 2, 3]), np.array([1.0, 2, 2]))
        >>> subset(p, np.array([True, False, True])).y_pred.tolist()
        [1.0, 2.0]
    """
    return Predictions(
        row_key=predictions.row_key[rows],
        y_true=predictions.y_true[rows],
        y_pred=predictions.y_pred[rows],
        proba=predictions.proba[rows] if predictions.proba is not None else None,
        classes=predictions.classes,
    )


def metric_value(
    predictions: Predictions,
    metric: str,
    *,
    costs: ErrorCosts | None = None,
    threshold: float | None = None,
) -> float:
    """The metric on these rows; NaN when it is undefined there (e.g. ROC AUC of one class, no rows).

    ``expected_cost`` of a binary classifier is taken at ``threshold`` (the run's decision threshold), not
    re-optimised on the rows: a slice must not get a threshold of its own.

    Example:
        >>> proba = np.array([[.8, .2], [.3, .7], [.6, .4], [.9, .1]])
        >>> p = Predictions(np.arange(4), np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]),
        ...                 proba=proba, classes=np.array([0, 1]))
        >>> metric_value(p, "roc_auc"), metric_value(p, "expected_cost", threshold=0.5)
        (1.0, 0.25)
    """
    rows = len(predictions.y_true)
    if rows == 0:
        return math.nan
    weighted = row_metrics(predictions, costs=costs, threshold=threshold)
    if metric in weighted:
        with np.errstate(all="ignore"):
            value = evaluate_block({metric: weighted[metric]}, np.ones((1, rows), dtype=np.int64))[metric]
        return float(value[0])
    return float(score_predictions(predictions).get(metric, math.nan))


def metric_interval(
    predictions: Predictions,
    metric: str,
    *,
    costs: ErrorCosts | None = None,
    threshold: float | None = None,
    resamples: int = 1000,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Interval | None:
    """The metric and its bootstrap percentile interval; None when it is undefined or has no weighted form.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.normal(size=300); p = Predictions(np.arange(300), y, y + rng.normal(0, 0.5, 300))
        >>> ci = metric_interval(p, "mae", resamples=200)
        >>> ci.low < ci.estimate < ci.high
        True
    """
    rows = len(predictions.y_true)
    weighted = row_metrics(predictions, costs=costs, threshold=threshold) if rows else {}
    if metric not in weighted:
        return None
    chosen = {metric: weighted[metric]}
    with np.errstate(all="ignore"):
        estimate = float(evaluate_block(chosen, np.ones((1, rows), dtype=np.int64))[metric][0])
        values = np.empty(resamples)
        rng = np.random.default_rng(seed)
        per_block = max(1, _BLOCK_INDICES // rows)
        for start in range(0, resamples, per_block):
            size = min(per_block, resamples - start)
            draws = rng.integers(0, rows, (size, rows)) + np.arange(size)[:, None] * rows
            counts = np.bincount(draws.ravel(), minlength=size * rows).reshape(size, rows)
            values[start : start + size] = evaluate_block(chosen, counts)[metric]
    kept = values[~np.isnan(values)]
    if math.isnan(estimate) or kept.size == 0:
        return None
    low, high = np.quantile(kept, [(1 - level) / 2, (1 + level) / 2])
    std_error = float(np.std(kept, ddof=1)) if kept.size > 1 else 0.0
    return Interval(estimate, float(low), float(high), std_error, level, int(kept.size))
