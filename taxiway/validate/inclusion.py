"""Inclusion: quality gaps between the groups of each protected column (ML Test Score M7).

Protected columns (``data.protected_columns``) never reach the model, but they stay in the data so that
the model's errors can be compared across the groups they define. For a binary classifier, at the
decision threshold the run ships with, fairlearn measures:

- the **equalised-odds difference**: the larger of the gaps in true-positive rate and in false-positive
  rate between any two groups. It is a quality gap (the model errs more for one group), so it is what the
  inclusion gate limits.
- the **demographic-parity difference**: the gap in the share predicted positive. It is reported, not
  gated: groups whose true base rates differ *should* get different shares.

For regression and multi-class models the gated gap is the spread of the ranking metric across groups,
in the metric's units. Groups with fewer than ``min_rows`` rows are listed but left out of the gaps.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from taxiway.measure.cost import ErrorCosts
from taxiway.measure.predictions import Predictions
from taxiway.measure.quality import metric_value, subset
from taxiway.validate.slices import slice_labels

__all__ = ["GroupQuality", "InclusionGap", "inclusion_gaps"]


@dataclass(frozen=True)
class GroupQuality:
    """One group's size, ranking metric and (binary classifiers) rates at the decision threshold."""

    value: str
    rows: int
    metric: float
    selection_rate: float | None = None
    true_positive_rate: float | None = None
    false_positive_rate: float | None = None


@dataclass(frozen=True)
class InclusionGap:
    """The gaps across one protected column's groups; ``gap`` is the one the gate limits (``measure``)."""

    column: str
    groups: tuple[GroupQuality, ...]
    metric_gap: float | None
    equalized_odds_difference: float | None
    demographic_parity_difference: float | None
    measure: str  # equalized_odds_difference | metric_gap

    @property
    def gap(self) -> float | None:
        return (
            self.equalized_odds_difference if self.measure == "equalized_odds_difference" else self.metric_gap
        )


def inclusion_gaps(
    predictions: Predictions,
    columns: Mapping[str, pd.Series],
    metric: str,
    *,
    costs: ErrorCosts | None = None,
    threshold: float | None = None,
    min_rows: int = 30,
) -> list[InclusionGap]:
    """The quality gaps across the groups of each column (values in the predicted rows' order).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> group = pd.Series(np.repeat(["a", "b"], 500)); y = rng.integers(0, 2, 1000)
        >>> score = np.where(group == "a", y * 0.8 + 0.1, rng.random(1000))  # useless for group b
        >>> p = Predictions(np.arange(1000), y, (score >= 0.5).astype(int),
        ...                 proba=np.column_stack([1 - score, score]), classes=np.array([0, 1]))
        >>> gap = inclusion_gaps(p, {"group": group}, "roc_auc", threshold=0.5)[0]
        >>> gap.measure, gap.gap > 0.4, round(gap.metric_gap, 1)
        ('equalized_odds_difference', True, 0.5)
    """
    binary = predictions.is_binary and predictions.proba is not None and predictions.classes is not None
    found = []
    for column, values in columns.items():
        labels = slice_labels(values.reset_index(drop=True))
        names, counts = np.unique(labels, return_counts=True)
        groups: list[GroupQuality] = []
        for name in names[np.argsort(-counts, kind="stable")]:
            rows = labels == name
            part = subset(predictions, rows)
            rates = _rates(part, threshold) if binary else {}
            value = metric_value(part, metric, costs=costs, threshold=threshold)
            groups.append(GroupQuality(str(name), int(rows.sum()), value, **rates))
        counted = np.isin(labels, [g.value for g in groups if g.rows >= min_rows])
        defined = [g.metric for g in groups if g.rows >= min_rows and not math.isnan(g.metric)]
        metric_gap = max(defined) - min(defined) if len(defined) > 1 else None
        equalized = parity = None
        if binary and len({g.value for g in groups if g.rows >= min_rows}) > 1:
            equalized, parity = _fairlearn_gaps(subset(predictions, counted), labels[counted], threshold)
        found.append(
            InclusionGap(
                column=column,
                groups=tuple(groups),
                metric_gap=metric_gap,
                equalized_odds_difference=equalized,
                demographic_parity_difference=parity,
                measure="equalized_odds_difference" if binary else "metric_gap",
            )
        )
    return found


def _decisions(predictions: Predictions, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    assert predictions.classes is not None  # callers check the predictions are binary
    positive = (predictions.y_true == predictions.classes[1]).astype(int)
    if threshold is None:
        return positive, (predictions.y_pred == predictions.classes[1]).astype(int)
    return positive, (predictions.positive_score() >= threshold).astype(int)


def _rates(predictions: Predictions, threshold: float | None) -> dict[str, Any]:
    positive, predicted = _decisions(predictions, threshold)
    with np.errstate(all="ignore"):
        return {
            "selection_rate": _mean(predicted),
            "true_positive_rate": _mean(predicted[positive == 1]),
            "false_positive_rate": _mean(predicted[positive == 0]),
        }


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def _fairlearn_gaps(
    predictions: Predictions, groups: np.ndarray, threshold: float | None
) -> tuple[float | None, float]:
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    positive, predicted = _decisions(predictions, threshold)
    with warnings.catch_warnings():
        # A group without positives (or negatives) has no true- (false-) positive rate; fairlearn warns
        # and gives NaN, which is reported as "no gap measurable" instead.
        warnings.simplefilter("ignore")
        equalized = float(equalized_odds_difference(positive, predicted, sensitive_features=groups))
        parity = float(demographic_parity_difference(positive, predicted, sensitive_features=groups))
    return (None if math.isnan(equalized) else equalized), parity
