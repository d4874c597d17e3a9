"""Staleness impact: a model trained on older rows scores worse on the newest ones, per month of age."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from taxiway.measure.predictions import Predictions
from taxiway.measure.quality import metric_value
from taxiway.validate.staleness import staleness_impact, to_time

RNG = np.random.default_rng(3)


def _drifting(days: int, start: str) -> pd.DataFrame:
    """Rows labelled by whether x is above a boundary that moves up 0.3 a month: the world drifts."""
    times = pd.date_range(start, periods=days * 4, freq="6h", tz="UTC")
    months = (times - pd.Timestamp("2024-01-01", tz="UTC")).days.to_numpy() / 30.44
    x = RNG.normal(size=len(times)) + 0.3 * months
    return pd.DataFrame({"t": times, "x": x, "y": (x > 0.3 * months).astype(int)})


def test_older_windows_score_worse_on_drifting_data() -> None:
    train = _drifting(360, "2024-01-01")
    newest = _drifting(60, "2025-01-01")

    def fit(rows: pd.DataFrame) -> LogisticRegression:
        return LogisticRegression().fit(rows[["x"]], rows["y"])

    def score(model: LogisticRegression) -> float:
        proba = model.predict_proba(newest[["x"]])
        predictions = Predictions(
            newest.index.to_numpy(),
            newest["y"].to_numpy(),
            proba.argmax(axis=1),
            proba=proba,
            classes=model.classes_,
        )
        return metric_value(predictions, "accuracy")

    impact = staleness_impact(
        fit, score, train, train["t"], newest["t"].min(), "accuracy", scored_rows=len(newest)
    )
    assert impact is not None and len(impact.windows) == 3
    ages = [w.age_months for w in impact.windows]
    assert ages == sorted(ages, reverse=True) and ages[-1] == pytest.approx(0.2, abs=0.1)  # 6 days
    assert impact.windows[0].value < impact.windows[-1].value and impact.loss_per_month > 0


def test_windows_the_model_cannot_learn_are_left_out() -> None:
    train = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=9, freq="D", tz="UTC"), "x": range(9)})

    def fit(rows: pd.DataFrame) -> int:
        if rows["x"].max() < 3:
            raise ValueError("one class")
        return int(rows["x"].max())

    impact = staleness_impact(
        fit, float, train, train["t"], pd.Timestamp("2024-02-01", tz="UTC"), "mae", scored_rows=1
    )
    assert impact is not None and [w.rows for w in impact.windows] == [3, 3]
    assert (
        staleness_impact(
            fit,
            float,
            train.iloc[:3],
            train["t"].iloc[:3],
            pd.Timestamp("2024-02-01", tz="UTC"),
            "mae",
            scored_rows=1,
        )
        is None
    )


def test_time_columns_are_read_as_utc_dates_and_numbers_are_not_dates() -> None:
    assert str(to_time(pd.Series(["2013-01-01T06:00:00Z"])).dt.tz) == "UTC"  # type: ignore[union-attr]
    assert to_time(pd.Series([2013, 2014])) is None and to_time(pd.Series(["soon"])) is None
