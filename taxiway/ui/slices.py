"""Per-slice metrics of several runs side by side, on the charter's slice columns.

Each slice is a 0/1 weight over a run's validation rows, so one :class:`taxiway.measure.weighted.MetricSet`
call scores every slice of every column at once. Slices are labelled as the validation gate labels them
(:func:`taxiway.validate.slices.slice_labels`: values as text, numeric columns in quantile bins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taxiway.data.split import get_split, split_frames
from taxiway.errors import TaxiwayError
from taxiway.measure.cost import ErrorCosts
from taxiway.measure.predictions import Predictions
from taxiway.measure.weighted import MetricSet, row_metrics
from taxiway.store import Store
from taxiway.train.runs import Run
from taxiway.validate.slices import slice_labels

MAX_SLICES = 12  # per column, the largest first: a side-by-side table, not a dump


@dataclass(frozen=True)
class SliceRow:
    """One slice (``column`` = ``value``) and each run's metric on it (None: the run has no such rows)."""

    column: str
    value: str
    rows: int
    values: tuple[float | None, ...]


def slice_table(
    store: Store,
    runs: Sequence[Run],
    predictions: dict[str, Predictions],
    columns: Sequence[str],
    metric: str,
    *,
    costs: ErrorCosts,
) -> list[SliceRow]:
    """``metric`` of every run on every slice of ``columns``; empty when there is nothing to slice.

    Runs are sliced by their own split's validation rows; a run without predictions or split is left out.
    """
    found: dict[tuple[str, str], dict[str, tuple[int, float]]] = {}
    for run in runs:
        frame = _validation_rows(store, run, columns) if run.id in predictions else None
        if frame is None:
            continue
        p = predictions[run.id]
        metrics = row_metrics(p, costs=costs, threshold=_threshold(run))
        if metric not in metrics:
            continue
        keys = pd.Index(np.asarray(p.row_key, dtype=object).astype(str))
        values = frame.reindex(keys)
        for column in columns:
            labels = slice_labels(values[column].reset_index(drop=True))
            names, counts = np.unique(labels, return_counts=True)
            largest = names[np.argsort(-counts, kind="stable")][:MAX_SLICES]
            weights = np.stack([labels == name for name in largest]).astype(np.int64)
            scored = MetricSet({metric: metrics[metric]})(weights)[metric]
            for name, rows, value in zip(largest, weights.sum(axis=1), scored, strict=True):
                found.setdefault((column, str(name)), {})[run.id] = (int(rows), float(value))
    table = []
    for (column, value), per_run in found.items():
        rows = max(count for count, _ in per_run.values())
        shown = tuple(per_run[run.id][1] if run.id in per_run else None for run in runs)
        table.append(SliceRow(column, value, rows, shown))
    order = {column: index for index, column in enumerate(columns)}
    return sorted(table, key=lambda row: (order[row.column], -row.rows))


def _validation_rows(store: Store, run: Run, columns: Sequence[str]) -> pd.DataFrame | None:
    if run.split_id is None:
        return None
    try:
        valid = split_frames(store, get_split(store, run.split_id)).valid
    except TaxiwayError:
        return None
    if any(column not in valid.columns for column in columns):
        return None
    rows = valid[list(columns)]
    return rows[~rows.index.duplicated()]


def _threshold(run: Run) -> float | None:
    value = run.params.get("decision_threshold")
    return float(value) if isinstance(value, int | float) else None
