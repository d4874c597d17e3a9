"""Staleness impact (ML Test Score M4): how much quality a model loses for each month it is not retrained.

On a time split the training rows are cut, in time order, into equal-sized windows. The model spec is
fitted afresh on each window and every fit is scored on the same newest rows (the test split). A window
that ends long before those rows plays a model that has not been retrained for that long; the slope of
quality against that age, fitted by least squares, is the quality lost per month of age (in the ranking
metric's units; positive means older is worse). Equal-sized windows keep the amount of training data
the same, so the slope measures age, not data size.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from taxiway.measure.metrics import METRICS

DAYS_PER_MONTH = 365.25 / 12
DEFAULT_WINDOWS = 3

__all__ = ["StalenessImpact", "StalenessWindow", "staleness_impact", "to_time"]


@dataclass(frozen=True)
class StalenessWindow:
    """One fit on a window of training rows, scored on the newest rows."""

    start: str  # ISO 8601, UTC
    end: str
    rows: int
    age_months: float  # from the window's last row to the first scored row
    value: float  # the ranking metric on the newest rows


@dataclass(frozen=True)
class StalenessImpact:
    """Quality lost per month of model age, from several windows."""

    metric: str
    loss_per_month: float
    windows: tuple[StalenessWindow, ...]
    scored_rows: int


def to_time(values: pd.Series) -> pd.Series | None:
    """A time column as UTC timestamps; None when it holds no dates (plain numbers are not dates).

    Example:
        >>> to_time(pd.Series(["2013-01-01 05:00", "2013-02-01"])).dt.month.tolist()
        [1, 2]
        >>> to_time(pd.Series([1, 2])) is None
        True
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_datetime64_any_dtype(values):
        return None
    for form in ("ISO8601", "mixed"):
        try:
            return pd.to_datetime(values, utc=True, format=form)
        except (ValueError, TypeError):
            continue
    return None


def staleness_impact(
    fit: Callable[[pd.DataFrame], Any],
    score: Callable[[Any], float],
    train: pd.DataFrame,
    times: pd.Series,
    newest_start: pd.Timestamp,
    metric: str,
    *,
    scored_rows: int,
    windows: int = DEFAULT_WINDOWS,
) -> StalenessImpact | None:
    """Fit on ``windows`` equal time-ordered windows of ``train`` and relate each score to its age.

    ``fit(rows)`` returns a fitted model, ``score(model)`` its metric on the newest rows, which start at
    ``newest_start``; ``times`` are the training rows' times. None when fewer than two windows could be
    fitted and scored.

    Example:
        >>> t = pd.Series(pd.date_range("2024-01-01", periods=300, freq="D", tz="UTC"))
        >>> train = pd.DataFrame({"t": t, "x": range(300)})
        >>> fit = lambda rows: rows["t"].max()  # a "model" that remembers when it was trained
        >>> score = lambda model: 1.0 - (pd.Timestamp("2025-01-01", tz="UTC") - model).days / 1000
        >>> impact = staleness_impact(fit, score, train, t, pd.Timestamp("2025-01-01", tz="UTC"), "roc_auc",
        ...                           scored_rows=50)
        >>> round(impact.loss_per_month, 4), len(impact.windows)
        (0.0304, 3)
    """
    order = np.argsort(times.to_numpy(), kind="stable")
    found = []
    for chunk in np.array_split(order, windows):
        if len(chunk) == 0:
            continue
        rows = train.iloc[chunk]
        chunk_times = times.iloc[chunk]
        value = _fit_and_score(fit, score, rows)
        if value is None or math.isnan(value):
            continue
        age = (newest_start - chunk_times.max()).total_seconds() / 86_400 / DAYS_PER_MONTH
        found.append(
            StalenessWindow(
                start=chunk_times.min().isoformat(),
                end=chunk_times.max().isoformat(),
                rows=len(chunk),
                age_months=float(age),
                value=value,
            )
        )
    if len(found) < 2:
        return None
    ages = np.array([w.age_months for w in found])
    values = np.array([w.value for w in found])
    slope = float(np.polyfit(ages, values, 1)[0]) if np.ptp(ages) > 0 else 0.0
    loss = -slope if METRICS[metric].greater_is_better else slope
    return StalenessImpact(metric=metric, loss_per_month=loss, windows=tuple(found), scored_rows=scored_rows)


def _fit_and_score(
    fit: Callable[[pd.DataFrame], Any], score: Callable[[Any], float], rows: pd.DataFrame
) -> float | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a small window may not converge: its score says so
            return float(score(fit(rows)))
    except Exception:  # noqa: BLE001 - a window the model cannot learn (e.g. one class) is left out
        return None
