"""Calibration: expected calibration error and the reliability curve's points."""

from __future__ import annotations

import numpy as np
import pytest

from taxiway.measure.calibration import calibration
from taxiway.measure.predictions import Predictions

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic

RNG = np.random.default_rng(2)


def test_bins_hold_every_row_and_the_error_is_their_weighted_gap() -> None:
    score = RNG.random(2_000)
    y = (RNG.random(2_000) < score**2).astype(int)  # the model says p, the truth is p squared
    p = Predictions(
        np.arange(2_000),
        y,
        (score > 0.5).astype(int),
        proba=np.column_stack([1 - score, score]),
        classes=np.array([0, 1]),
    )
    found = calibration(p, bins=5)
    assert found is not None and found.kind == "positive_class" and len(found.bins) == 5
    assert sum(b.rows for b in found.bins) == 2_000
    weighted = sum(abs(b.mean_predicted - b.observed) * b.rows for b in found.bins) / 2_000
    assert found.error == pytest.approx(weighted) and found.error > 0.1
    assert found.max_error == pytest.approx(max(abs(b.mean_predicted - b.observed) for b in found.bins))


def test_multiclass_uses_the_top_label_and_regression_has_none() -> None:
    proba = RNG.dirichlet([1, 1, 1], size=600)
    y = np.array([RNG.choice(3, p=row) for row in proba])
    p = Predictions(np.arange(600), y, proba.argmax(axis=1), proba=proba, classes=np.array([0, 1, 2]))
    found = calibration(p)
    assert found is not None and found.kind == "top_label" and found.error < 0.1
    assert calibration(Predictions(np.arange(3), np.ones(3), np.ones(3))) is None


def test_rows_with_nan_probabilities_are_left_out() -> None:
    proba = np.array([[0.2, 0.8], [np.nan, np.nan], [0.9, 0.1]])
    found = calibration(
        Predictions(
            np.arange(3), np.array([1, 0, 0]), np.array([1, 0, 0]), proba=proba, classes=np.array([0, 1])
        )
    )
    assert found is not None and sum(b.rows for b in found.bins) == 2
