"""Feature cost (ML Test Score D3): each feature's share of the packaged model's predict time.

How it is measured: feature code lives inside the model as a scikit-learn ``ColumnTransformer`` (the
first step of the pipeline). On a batch of rows, the whole ``predict`` is timed, then each fitted branch
of the transformer is timed on its own columns, exactly as ``predict`` runs it (median of several
repeats). A branch's time is shared equally by the columns it computes: they are computed together and
cannot be timed apart. The rest of the predict time (the estimator itself, the transformer's overhead) is
reported as ``model_seconds``: it does not depend on which raw feature is present.

Why not time ``predict`` with a feature replaced by a constant: in a fitted pipeline the work per row is
the same whatever the value (an encoder looks it up, a tree walks its depth), so the difference measures
noise, not the feature. A model without a ``ColumnTransformer`` cannot be split by feature; its total
time is still reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd

DEFAULT_REPEATS = 5
BATCH_ROWS = 1_000
SHARE_LIMIT = 0.5  # one raw feature taking over half of the predict time is worth a second look

__all__ = ["FeatureCost", "FeatureCosts", "feature_cost"]


@dataclass(frozen=True)
class FeatureCost:
    """The time one feature's code takes per batch, and its share of the whole predict time."""

    feature: str
    seconds: float
    share: float
    step: str  # the transformer branch that computes it


@dataclass(frozen=True)
class FeatureCosts:
    """Every feature's cost on one batch; ``method`` says whether the time could be split by feature."""

    batch_rows: int
    predict_seconds: float
    model_seconds: float
    features: tuple[FeatureCost, ...]
    method: Literal["column_transformer", "not_separable"]

    @property
    def most_costly(self) -> FeatureCost | None:
        return max(self.features, key=lambda f: f.seconds) if self.features else None


def feature_cost(
    model: Any, x: pd.DataFrame, *, predict: str = "predict", repeats: int = DEFAULT_REPEATS
) -> FeatureCosts:
    """Time ``model``'s ``predict`` (or ``predict_proba``) on up to 1,000 rows of ``x``, split by feature.

    Example:
        >>> from sklearn.compose import ColumnTransformer
        >>> from sklearn.linear_model import LinearRegression
        >>> from sklearn.pipeline import Pipeline
        >>> from sklearn.preprocessing import OneHotEncoder
        >>> x = pd.DataFrame({"city": ["a", "b"] * 50, "size": np.arange(100.0)})
        >>> features = ColumnTransformer([("cities", OneHotEncoder(), ["city"]),
        ...                               ("numbers", "passthrough", ["size"])])
        >>> model = Pipeline([("features", features), ("model", LinearRegression())]).fit(x, x["size"])
        >>> costs = feature_cost(model, x)
        >>> costs.method, [(f.feature, f.step) for f in costs.features]
        ('column_transformer', [('city', 'cities'), ('size', 'numbers')])
    """
    batch = x.iloc[:BATCH_ROWS]
    run = getattr(model, predict)
    total = _median_seconds(lambda: run(batch), repeats)
    transformer = _first_column_transformer(model)
    if transformer is None:
        return FeatureCosts(len(batch), total, total, (), "not_separable")
    found: list[FeatureCost] = []
    for step, fitted, columns in transformer.transformers_:
        names = _names(columns, batch.columns)
        if not names or (isinstance(fitted, str) and fitted == "drop"):
            continue
        part = batch[names]
        # "passthrough" copies the columns out as they are; a fitted transformer computes them
        work = part.to_numpy if isinstance(fitted, str) else partial(fitted.transform, part)
        seconds = _median_seconds(work, repeats)
        found += [FeatureCost(name, seconds / len(names), 0.0, str(step)) for name in names]
    spent = sum(f.seconds for f in found)
    shared = tuple(
        FeatureCost(f.feature, f.seconds, f.seconds / total if total > 0 else 0.0, f.step) for f in found
    )
    return FeatureCosts(len(batch), total, max(0.0, total - spent), shared, "column_transformer")


def _first_column_transformer(model: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline) and model.steps and isinstance(model.steps[0][1], ColumnTransformer):
        return model.steps[0][1]
    return None


def _names(columns: Any, all_columns: pd.Index) -> list[str]:
    """A branch's columns as names, however it was given them (names, positions, a mask, a slice)."""
    if columns is None:
        return []
    if isinstance(columns, str | int | np.integer):
        columns = [columns]
    if isinstance(columns, slice):
        return [str(c) for c in all_columns[columns]]
    listed = list(columns)
    if listed and all(isinstance(c, bool | np.bool_) for c in listed):
        return [str(c) for c, keep in zip(all_columns, listed, strict=False) if keep]
    return [str(all_columns[int(c)]) if isinstance(c, int | np.integer) else str(c) for c in listed]


def _median_seconds(call: Callable[[], Any], repeats: int) -> float:
    call()  # warm caches first: the first call pays for lazy imports and allocations
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return float(np.median(timings))
