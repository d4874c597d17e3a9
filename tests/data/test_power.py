"""Dev-set power: the smallest detectable improvement, how many rows are needed, for every ranking metric."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from taxiway.data.power import (
    ALPHA,
    POWER,
    check_dev_power,
    mde_accuracy,
    rows_needed,
    smallest_improvement,
)
from taxiway.data.split import SplitFrames
from taxiway.measure.metrics import metrics_for
from tests.data.split_helpers import charter, events, wine

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic

Z = 1.959963984540054 + 0.8416212335729143  # z(1 - α/2) + z(power) at α 0.05, power 0.8


def _frames(frame: pd.DataFrame, valid_rows: int) -> SplitFrames:
    return SplitFrames(frame.iloc[:-400], frame.iloc[-400 : -400 + valid_rows], frame.iloc[-200:])


def _settings(task: str = "classification") -> dict[str, Any]:
    return {"target": "label", "task": task, "key_column": None}


def test_formulas() -> None:
    assert math.isclose(mde_accuracy(0.8, 1000), Z * math.sqrt(2 * 0.8 * 0.2 / 1000))
    assert mde_accuracy(1.0, 100) > 0  # a perfect reference still leaves one row's worth of doubt
    assert rows_needed(1000, 0.02, 0.01) == 4000 and rows_needed(500, 0.01, 0.01) == 500
    assert (ALPHA, POWER) == (0.05, 0.8)


def test_a_too_small_dev_set_fails_and_says_how_many_rows() -> None:
    settings = charter(problem={"smallest_improvement": 0.005})
    report = check_dev_power(_frames(events(3000), 150), _settings(), settings)
    assert report.verdict == "fail" and report.status == "fail"
    details = report.details
    assert details["metric"] == "roc_auc" and details["metric_is_default"] is True
    assert details["method"] == "bootstrap" and details["n_valid"] == 150
    assert details["smallest_improvement"] == 0.005 and details["smallest_improvement_is_default"] is False
    assert math.isclose(details["mde"], Z * math.sqrt(2) * details["std_error"])
    assert report.value == details["mde"] > report.threshold == 0.005
    assert details["rows_needed"] == rows_needed(150, details["mde"], 0.005) > 150
    message = report.findings[0].message
    assert f"about {details['rows_needed']:,} validation rows are needed" in message
    assert 0.6 < details["reference"]["score"] < 1 and details["reference"]["model"] == "logistic regression"
    # 3,000 rows cannot hold that many validation rows: the hint says what can be done instead.
    advice = details["advice"]
    assert advice["valid_fraction"] == 0.5 and advice["more_rows"] > 3000
    assert advice["smallest_improvement"] > 0.005
    assert f"add about {advice['more_rows']:,} rows, or set problem.smallest_improvement = " in message


def test_when_more_validation_rows_suffice_the_hint_is_the_fraction() -> None:
    probe = check_dev_power(_frames(events(3000), 150), _settings(), charter())
    mde = probe.details["mde"]
    settings = charter(problem={"smallest_improvement": round(mde * 0.8, 4)})
    report = check_dev_power(_frames(events(3000), 150), _settings(), settings)
    assert report.verdict == "fail"
    fraction = report.details["advice"]["valid_fraction"]
    # (mde / 0.8 mde)² = 1.5625 times the 150 rows, out of the 2,950 labelled rows (2,600 + 150 + 200)
    assert fraction == math.ceil(100 * 150 * (mde / round(mde * 0.8, 4)) ** 2 / 2950) / 100
    assert f"set split.valid_fraction = {fraction:g} in taxiway.toml (now 0.15)" in report.findings[0].message


def test_unanswered_smallest_improvement_is_derived_and_only_a_warning() -> None:
    report = check_dev_power(_frames(events(3000), 150), _settings(), charter())
    details = report.details
    assert report.verdict == "warn" and report.status == "warn"  # not proof: nothing to compare with
    assert details["smallest_improvement_is_default"] is True
    assert details["mde"] <= details["smallest_improvement"] < details["mde"] * 1.1  # rounded up, 2 digits
    assert report.threshold == details["smallest_improvement"] and details["rows_needed"] is None
    message = report.findings[0].message
    assert "problem.smallest_improvement is not answered" in message
    assert "set problem.smallest_improvement in taxiway.toml to the gain that matters" in message
    assert smallest_improvement(_frames(events(3000), 150), _settings(), charter()) == (
        details["smallest_improvement"],
        True,
    )
    stated = charter(problem={"smallest_improvement": 0.03})
    assert smallest_improvement(_frames(events(3000), 150), _settings(), stated) == (0.03, False)


def test_a_large_enough_dev_set_passes() -> None:
    settings = charter(problem={"ranking_metric": "accuracy", "smallest_improvement": 0.15})
    report = check_dev_power(_frames(events(3000), 200), _settings(), settings)
    details = report.details
    assert report.verdict == "pass" and details["method"] == "analytic" and details["rows_needed"] is None
    p = details["reference"]["score"]
    assert math.isclose(details["mde"], mde_accuracy(p, 200)) and details["mde"] <= 0.15
    assert report.findings == ()


def _data(task: str) -> pd.DataFrame:
    if task == "regression":
        frame = events(1400)
        return frame.assign(label=frame["x"] * 3 + np.random.default_rng(1).normal(size=len(frame)))
    return events(1400)


@pytest.mark.parametrize(
    ("task", "metric"),
    [("classification", m) for m in metrics_for("classification")]
    + [("regression", m) for m in metrics_for("regression")],
)
def test_every_ranking_metric(task: str, metric: str) -> None:
    settings = charter(task=task, problem={"ranking_metric": metric, "smallest_improvement": 0.01})
    report = check_dev_power(_frames(_data(task), 200), _settings(task), settings)
    details = report.details
    assert details["metric"] == metric and details["metric_is_default"] is False
    assert (
        math.isfinite(details["mde"]) and details["mde"] > 0 and math.isfinite(details["reference"]["score"])
    )
    assert report.verdict == ("pass" if details["mde"] <= 0.01 else "fail")


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss", "pr_auc", "brier", "expected_cost", "f1"])
def test_multiclass(metric: str) -> None:
    frame = wine().sample(frac=1.0, random_state=0).reset_index(drop=True)
    frames = SplitFrames(frame.iloc[:100], frame.iloc[100:150], frame.iloc[150:])
    settings = charter(problem={"ranking_metric": metric})
    report = check_dev_power(frames, _settings(), settings)
    assert report.details["n_valid"] == 50 and math.isfinite(report.details["mde"])


def test_a_class_the_train_rows_lack() -> None:
    frame = wine().sample(frac=1.0, random_state=0).reset_index(drop=True)
    train = frame[frame["label"] != 2].iloc[:80]  # e.g. a rare class lost when train is sampled
    frames = SplitFrames(train, frame.iloc[100:150], frame.iloc[150:])
    for metric in ("log_loss", "roc_auc", "accuracy"):
        report = check_dev_power(frames, _settings(), charter(problem={"ranking_metric": metric}))
        assert math.isfinite(report.details["mde"]), metric


def test_text_only_features_and_missing_values() -> None:
    frame = events(1400)[["colour", "user", "label"]].astype({"colour": "object"})
    frame.loc[::7, "colour"] = None
    report = check_dev_power(_frames(frame, 200), _settings(), charter())
    assert report.details["reference"]["columns"] == 1  # colour; user has too many values to one-hot
    no_features = check_dev_power(_frames(frame[["label"]], 200), _settings(), charter())
    assert no_features.details["reference"]["columns"] == 0 and math.isfinite(no_features.details["mde"])
