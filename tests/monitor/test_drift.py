"""Drift judged by effect size with thresholds calibrated on the reference: false alarms and detection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taxiway.charter.model import MonitoringSection
from taxiway.monitor.drift import feature_drift, judge
from taxiway.monitor.reference import profile_features
from taxiway.monitor.sketch import CategorySketch, NumericSketch, overdispersion

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic

SETTINGS = MonitoringSection()
KINDS = {"x": "numeric", "y": "numeric", "c": "categorical", "d": "categorical"}


def traffic(rng: np.random.Generator, rows: int, *, shift: float = 0.0, new: float = 0.0) -> pd.DataFrame:
    shares = [0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05]
    categories = rng.choice(list("abcdefgh"), rows, p=shares).astype(object)
    if new:
        categories[rng.random(rows) < new] = "brand-new"
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1, rows),
            "y": rng.exponential(1, rows),
            "c": categories,
            "d": rng.choice(["p", "q"], rows),
        }
    )


@pytest.fixture(scope="module")
def profile() -> dict[str, object]:
    reference = traffic(np.random.default_rng(0), 50_000)
    return {
        "features": profile_features(reference, KINDS, chunk_rows=5000, settings=SETTINGS),
        "kinds": KINDS,
    }


def test_drift_free_windows_raise_no_more_than_one_alarm(profile: dict[str, object]) -> None:
    rng = np.random.default_rng(1)
    alarms = [d for _ in range(30) for d in feature_drift(profile, traffic(rng, 5000), SETTINGS) if d.drifted]
    assert len(alarms) <= 1, alarms  # 120 judgements
    features = profile["features"]
    assert isinstance(features, dict)
    assert all(f["false_alarm_rate"] == 0.0 and f["chunks"] == 10 for f in features.values())


def test_a_tenth_of_a_standard_deviation_is_flagged_within_5000_rows(profile: dict[str, object]) -> None:
    rng = np.random.default_rng(2)
    flagged = [
        {d.column for d in feature_drift(profile, traffic(rng, 5000, shift=0.1), SETTINGS) if d.drifted}
        for _ in range(10)
    ]
    assert sum("x" in found for found in flagged) >= 9, flagged
    assert not any(found - {"x"} for found in flagged)  # the other columns stay quiet


def test_a_new_category_at_5_percent_is_flagged_within_2000_rows(profile: dict[str, object]) -> None:
    rng = np.random.default_rng(3)
    drift = next(d for d in feature_drift(profile, traffic(rng, 2000, new=0.05), SETTINGS) if d.column == "c")
    assert drift.drifted and drift.top_change.startswith("unseen values")


def test_a_trivial_shift_on_a_huge_sample_is_not_drift() -> None:
    """p-values call any shift significant at this size; the effect size floor does not."""
    rng = np.random.default_rng(4)
    reference = NumericSketch.fit(rng.normal(size=200_000))
    drift = judge("x", reference, pd.Series(rng.normal(0.02, 1, 500_000)), SETTINGS)
    assert not drift.drifted and drift.threshold == SETTINGS.drift_min_effect
    assert judge("x", reference, pd.Series(rng.normal(0.2, 1, 500_000)), SETTINGS).drifted


def test_sketches_merge_by_adding_counts() -> None:
    values = np.random.default_rng(5).normal(size=1000)
    sketch = NumericSketch.fit(values)
    halves = sketch.count(values[:500]).merge(sketch.count(values[500:]))
    assert halves.counts == sketch.counts
    a = CategorySketch.fit(pd.Series(["a", "b", "a"]))
    assert a.merge(a.count(pd.Series(["a", "z", None]))).counts == {"a": 3, "b": 1, "__other__": 1}
    with pytest.raises(ValueError, match="same edges"):
        sketch.merge(NumericSketch([0.0], [1, 1]))


def test_overdispersed_reference_chunks_raise_the_threshold() -> None:
    assert overdispersion([0.03] * 10, [0.01] * 10) == pytest.approx(3.0)
    assert overdispersion([0.0105] * 10, [0.01] * 10) == 1.0  # within chance: independent draws
