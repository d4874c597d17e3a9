"""Scoring predictions with every standard metric of their task."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from sklearn import metrics as skm

from taxiway.measure.metrics import METRICS
from taxiway.measure.predictions import Predictions


def score_predictions(predictions: Predictions) -> dict[str, float]:
    """All standard metrics of the task that can be computed on these predictions.

    Classification: accuracy, balanced accuracy, ROC AUC, PR AUC, log loss, F1, precision, recall, Brier
    (binary); regression: MAE, RMSE, R², MAPE (when no true value is zero). A metric that is undefined on
    the data (e.g. ROC AUC with one class present) is left out rather than reported as a number.

    Example:
        >>> p = Predictions(row_key=np.arange(4), y_true=np.array([0, 1, 1, 0]),
        ...                 y_pred=np.array([0, 1, 0, 0]), classes=np.array([0, 1]),
        ...                 proba=np.array([[.8, .2], [.3, .7], [.6, .4], [.9, .1]]))
        >>> round(score_predictions(p)["roc_auc"], 3), score_predictions(p)["accuracy"]
        (1.0, 0.75)
    """
    if predictions.task == "regression":
        return _regression(predictions.y_true.astype(float), predictions.y_pred.astype(float))
    return _classification(predictions)


def is_better(metric: str, candidate: float, reference: float) -> bool:
    """Whether ``candidate`` is strictly better than ``reference`` on ``metric``."""
    return candidate > reference if METRICS[metric].greater_is_better else candidate < reference


def improvement(metric: str, candidate: float, reference: float) -> float:
    """How much better ``candidate`` is than ``reference`` (negative when worse), in the metric's units.

    Example:
        >>> improvement("rmse", 9.0, 10.0), improvement("roc_auc", 0.70, 0.75)
        (1.0, -0.05)
    """
    gain = candidate - reference if METRICS[metric].greater_is_better else reference - candidate
    return round(gain, 12)


def _classification(p: Predictions) -> dict[str, float]:
    y_true, y_pred = p.y_true, p.y_pred
    scores = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": _quiet(skm.balanced_accuracy_score, y_true, y_pred),
    }
    average = "binary" if p.is_binary else "macro"
    positive = {"pos_label": p.classes[1]} if p.is_binary and p.classes is not None else {}
    for name, fn in (("f1", skm.f1_score), ("precision", skm.precision_score), ("recall", skm.recall_score)):
        scores[name] = fn(y_true, y_pred, average=average, zero_division=0, **positive)
    present = np.unique(y_true)
    if p.proba is not None and p.classes is not None and len(present) > 1:
        if p.is_binary:
            positive_score = p.positive_score()
            is_positive = y_true == p.classes[1]
            scores["roc_auc"] = skm.roc_auc_score(is_positive, positive_score)
            scores["pr_auc"] = skm.average_precision_score(is_positive, positive_score)
            scores["brier"] = skm.brier_score_loss(is_positive, positive_score)
        elif len(present) == len(p.classes):
            scores["roc_auc"] = skm.roc_auc_score(y_true, p.proba, multi_class="ovr", labels=p.classes)
        scores["log_loss"] = skm.log_loss(y_true, np.clip(p.proba, 1e-15, 1), labels=p.classes)
    return {name: float(value) for name, value in scores.items() if math.isfinite(float(value))}


def _regression(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    scores = {
        "mae": skm.mean_absolute_error(y_true, y_pred),
        "rmse": math.sqrt(skm.mean_squared_error(y_true, y_pred)),
        "r2": skm.r2_score(y_true, y_pred) if len(y_true) > 1 else math.nan,
    }
    if not np.any(y_true == 0):  # MAPE divides by the true value
        scores["mape"] = skm.mean_absolute_percentage_error(y_true, y_pred)
    return {name: float(value) for name, value in scores.items() if math.isfinite(float(value))}


def _quiet(fn: Callable[..., float], *args: object) -> float:
    # balanced accuracy warns when a class is missing from y_pred; the score is still defined.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)
