"""Slices: the ranking metric on every value of the charter's slice columns, with bootstrap intervals.

A model can be good on average and useless for one airport, one customer segment, one month. Each slice
gets its value, its interval and, when a reference model is given (the production model, else the best
baseline), the reference's value on the same rows, so a slice that got worse is named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from taxiway.measure.cost import ErrorCosts
from taxiway.measure.metrics import METRICS
from taxiway.measure.predictions import Predictions
from taxiway.measure.quality import metric_interval, metric_value, subset
from taxiway.measure.scores import improvement

MISSING = "(missing)"
MAX_DISTINCT = 20  # a numeric column with more distinct values is cut into quantile bins
NUMERIC_BINS = 5

__all__ = ["SliceMetric", "largest_drop", "slice_labels", "slice_metrics", "worst_slice"]


@dataclass(frozen=True)
class SliceMetric:
    """The ranking metric on the rows where ``column`` is ``value``.

    ``low``/``high`` bound its bootstrap interval (None when the metric has no interval there);
    ``reference`` is the reference model's value on the same rows. ``drop`` is how much worse the model is
    than the reference there, in the metric's units (positive: worse).
    """

    column: str
    value: str
    rows: int
    metric: str
    estimate: float
    low: float | None = None
    high: float | None = None
    reference: float | None = None

    @property
    def drop(self) -> float | None:
        if self.reference is None or math.isnan(self.estimate) or math.isnan(self.reference):
            return None
        return -improvement(self.metric, self.estimate, self.reference)


def slice_labels(values: pd.Series) -> NDArray[np.str_]:
    """Each row's slice: its value as text, or its quantile bin for a numeric column with many values.

    Example:
        >>> slice_labels(pd.Series(["EWR", None, "JFK"])).tolist()
        ['EWR', '(missing)', 'JFK']
        >>> sorted(set(slice_labels(pd.Series(range(100))).tolist()))[:2]
        ['[0, 19.8)', '[19.8, 39.6)']
    """
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > MAX_DISTINCT:
        edges = np.unique(np.nanquantile(values.to_numpy(dtype=float), np.linspace(0, 1, NUMERIC_BINS + 1)))
        index = np.clip(
            np.searchsorted(edges, values.to_numpy(dtype=float), side="right") - 1, 0, len(edges) - 2
        )
        names = np.array([f"[{edges[i]:.3g}, {edges[i + 1]:.3g})" for i in range(len(edges) - 1)])
        return np.where(values.isna().to_numpy(), MISSING, names[index])
    text = values.astype("string").fillna(MISSING)
    return np.asarray(text.to_numpy(dtype=object), dtype=str)


def slice_metrics(
    predictions: Predictions,
    columns: Mapping[str, pd.Series],
    metric: str,
    *,
    costs: ErrorCosts | None = None,
    threshold: float | None = None,
    reference: Predictions | None = None,
    reference_threshold: float | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> list[SliceMetric]:
    """The metric on every slice of every column, largest slices first within a column.

    ``columns`` holds each slice column's values for the predicted rows, in the same order; ``reference``
    holds another model's predictions of the same rows, in the same order.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.normal(size=400); origin = pd.Series(np.where(np.arange(400) < 200, "EWR", "JFK"))
        >>> noise = np.where(origin == "EWR", 0.1, 2.0)
        >>> p = Predictions(np.arange(400), y, y + rng.normal(0, noise))
        >>> found = slice_metrics(p, {"origin": origin}, "mae", resamples=50)
        >>> [(s.value, s.rows) for s in found], worst_slice(found, min_rows=30).value
        ([('EWR', 200), ('JFK', 200)], 'JFK')
    """
    found: list[SliceMetric] = []
    for column, values in columns.items():
        labels = slice_labels(values.reset_index(drop=True))
        names, counts = np.unique(labels, return_counts=True)
        for name in names[np.argsort(-counts, kind="stable")]:
            rows = labels == name
            part = subset(predictions, rows)
            interval = metric_interval(
                part, metric, costs=costs, threshold=threshold, resamples=resamples, seed=seed
            )
            estimate = (
                interval.estimate
                if interval is not None
                else metric_value(part, metric, costs=costs, threshold=threshold)
            )
            other = (
                metric_value(subset(reference, rows), metric, costs=costs, threshold=reference_threshold)
                if reference is not None
                else None
            )
            found.append(
                SliceMetric(
                    column=column,
                    value=str(name),
                    rows=int(rows.sum()),
                    metric=metric,
                    estimate=estimate,
                    low=interval.low if interval is not None else None,
                    high=interval.high if interval is not None else None,
                    reference=other,
                )
            )
    return found


def worst_slice(slices: list[SliceMetric], *, min_rows: int) -> SliceMetric | None:
    """The slice with the worst metric among those with at least ``min_rows`` rows and a defined value."""
    counted = [s for s in slices if s.rows >= min_rows and not math.isnan(s.estimate)]
    if not counted:
        return None
    direction = 1 if METRICS[counted[0].metric].greater_is_better else -1
    return min(counted, key=lambda s: direction * s.estimate)


def largest_drop(slices: list[SliceMetric], *, min_rows: int) -> SliceMetric | None:
    """The slice where the model falls furthest behind the reference (of those with enough rows)."""
    compared = [s for s in slices if s.rows >= min_rows and s.drop is not None]
    return max(compared, key=lambda s: s.drop or 0.0) if compared else None
