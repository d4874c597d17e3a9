"""Slices: a model that is fine on average but fails one group is named, against a reference model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from taxiway.measure.predictions import Predictions
from taxiway.validate.slices import MISSING, largest_drop, slice_labels, slice_metrics, worst_slice

RNG = np.random.default_rng(0)
N = 900
ORIGIN = pd.Series(np.repeat(["EWR", "JFK", "LGA"], N // 3))
Y = RNG.integers(0, 2, N)


def _predictions(noise: np.ndarray) -> Predictions:
    score = np.clip(np.where(Y == 1, 0.7, 0.3) + RNG.normal(0, noise), 0.001, 0.999)
    return Predictions(
        np.arange(N),
        Y,
        (score >= 0.5).astype(int),
        proba=np.column_stack([1 - score, score]),
        classes=np.array([0, 1]),
    )


def test_the_collapsed_slice_is_the_worst_and_the_largest_drop_against_the_reference() -> None:
    collapsed = _predictions(np.where(ORIGIN == "JFK", 2.0, 0.1))
    reference = _predictions(np.full(N, 0.1))
    found = slice_metrics(collapsed, {"origin": ORIGIN}, "roc_auc", reference=reference, resamples=100)
    by_value = {s.value: s for s in found}
    assert set(by_value) == {"EWR", "JFK", "LGA"} and all(s.rows == 300 for s in found)
    assert by_value["JFK"].estimate < 0.7 < by_value["EWR"].estimate
    assert all(s.low is not None and s.high is not None and s.low <= s.estimate <= s.high for s in found)
    worst, dropped = worst_slice(found, min_rows=30), largest_drop(found, min_rows=30)
    assert worst is not None and worst.value == "JFK"
    assert dropped is not None and dropped.value == "JFK" and dropped.drop is not None and dropped.drop > 0.2


def test_small_slices_are_reported_but_not_judged() -> None:
    values = pd.Series(["big"] * (N - 10) + ["tiny"] * 10)
    found = slice_metrics(_predictions(np.full(N, 0.5)), {"segment": values}, "accuracy", resamples=50)
    assert [s.value for s in found] == ["big", "tiny"]
    assert worst_slice(found, min_rows=30).value == "big"  # type: ignore[union-attr]
    assert worst_slice(found, min_rows=N + 1) is None


def test_labels_cut_many_numbers_into_bins_and_keep_missing_values_apart() -> None:
    labels = slice_labels(pd.Series([*range(95), None, None, None, None, None], dtype="Float64"))
    assert (labels == MISSING).sum() == 5 and len(set(labels)) == 6
    assert slice_labels(pd.Series([1, 2, 2, 3])).tolist() == ["1", "2", "2", "3"]
    assert slice_labels(pd.Series([True, False])).tolist() == ["True", "False"]
