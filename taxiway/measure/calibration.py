"""Calibration: do the predicted probabilities mean what they say? Expected calibration error and the
data of a reliability curve.

Scores are cut into equal-width bins; in each bin the mean predicted probability is set against the share
of rows that are positive. The expected calibration error (ECE) is the rows-weighted mean of the gaps;
the maximum calibration error (MCE) the largest gap of any bin. Binary classifiers are judged on the
positive-class score; multi-class ones on the top label's probability against whether it was right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from taxiway.measure.predictions import Predictions

DEFAULT_BINS = 10

__all__ = ["Calibration", "ReliabilityBin", "calibration"]


@dataclass(frozen=True)
class ReliabilityBin:
    """One point of the reliability curve: the rows whose probability fell in [low, high)."""

    low: float
    high: float
    rows: int
    mean_predicted: float
    observed: float


@dataclass(frozen=True)
class Calibration:
    """The calibration of one set of predictions."""

    error: float  # expected calibration error (ECE)
    max_error: float  # largest gap of any bin (MCE)
    kind: Literal["positive_class", "top_label"]
    bins: tuple[ReliabilityBin, ...]


def calibration(predictions: Predictions, *, bins: int = DEFAULT_BINS) -> Calibration | None:
    """The calibration of a classifier's probabilities; None for regression or rows without probabilities.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> score = rng.random(5000); y = (rng.random(5000) < score).astype(int)  # calibrated by design
        >>> p = Predictions(np.arange(5000), y, (score > .5).astype(int),
        ...                 proba=np.column_stack([1 - score, score]), classes=np.array([0, 1]))
        >>> good = calibration(p)
        >>> good.error < 0.03, len(good.bins)
        (True, 10)
        >>> cubed = np.column_stack([1 - score**3, score**3])
        >>> overconfident = Predictions(p.row_key, y, p.y_pred, proba=cubed, classes=p.classes)
        >>> calibration(overconfident).error > 0.1
        True
    """
    if predictions.proba is None or predictions.classes is None or len(predictions.y_true) == 0:
        return None
    finite = np.isfinite(predictions.proba).all(axis=1)
    proba, y_true = predictions.proba[finite], predictions.y_true[finite]
    if len(y_true) == 0:
        return None
    if predictions.is_binary:
        confidence = proba[:, 1]
        hit = (y_true == predictions.classes[1]).astype(float)
        kind: Literal["positive_class", "top_label"] = "positive_class"
    else:
        top = np.argmax(proba, axis=1)
        confidence = proba[np.arange(len(proba)), top]
        hit = (predictions.classes[top] == y_true).astype(float)
        kind = "top_label"
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    found = []
    error = max_error = 0.0
    for b in range(bins):
        rows = index == b
        count = int(rows.sum())
        if count == 0:
            continue
        mean_predicted, observed = float(confidence[rows].mean()), float(hit[rows].mean())
        gap = abs(mean_predicted - observed)
        error += gap * count / len(confidence)
        max_error = max(max_error, gap)
        found.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), count, mean_predicted, observed))
    return Calibration(error=float(error), max_error=float(max_error), kind=kind, bins=tuple(found))
