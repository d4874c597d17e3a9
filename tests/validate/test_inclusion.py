"""Inclusion: quality gaps across protected groups, by fairlearn's definitions at the shipped threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taxiway.measure.predictions import Predictions
from taxiway.validate.inclusion import inclusion_gaps

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic

RNG = np.random.default_rng(1)
N = 1_000
GROUP = pd.Series(np.repeat(["a", "b"], N // 2))
Y = RNG.integers(0, 2, N)


def _binary(score: np.ndarray) -> Predictions:
    return Predictions(
        np.arange(N),
        Y,
        (score >= 0.5).astype(int),
        proba=np.column_stack([1 - score, score]),
        classes=np.array([0, 1]),
    )


def test_the_equalised_odds_difference_is_the_largest_rate_gap_at_the_threshold() -> None:
    score = np.where(GROUP == "a", Y * 0.8 + 0.1, RNG.random(N))
    gap = inclusion_gaps(_binary(score), {"group": GROUP}, "roc_auc", threshold=0.5)[0]
    rates = {g.value: g for g in gap.groups}
    expected = max(
        abs(rates["a"].true_positive_rate - rates["b"].true_positive_rate),  # type: ignore[operator]
        abs(rates["a"].false_positive_rate - rates["b"].false_positive_rate),  # type: ignore[operator]
    )
    assert gap.measure == "equalized_odds_difference" and gap.gap == pytest.approx(expected)
    assert gap.demographic_parity_difference == pytest.approx(
        abs(rates["a"].selection_rate - rates["b"].selection_rate)  # type: ignore[operator]
    )
    assert rates["a"].metric == pytest.approx(1.0) and gap.metric_gap is not None and gap.metric_gap > 0.3


def test_a_fair_model_has_small_gaps_and_tiny_groups_are_left_out() -> None:
    fair = _binary(np.where(Y == 1, 0.8, 0.2))
    group = pd.Series(["a"] * (N - 5) + ["rare"] * 5)
    gap = inclusion_gaps(fair, {"group": group}, "accuracy", threshold=0.5, min_rows=30)[0]
    assert [g.value for g in gap.groups] == ["a", "rare"]
    assert gap.gap is None and gap.metric_gap is None  # one judged group: nothing to compare
    both = inclusion_gaps(fair, {"group": GROUP}, "accuracy", threshold=0.5)[0]
    assert both.gap == pytest.approx(0.0)


def test_regression_gaps_are_in_the_ranking_metric() -> None:
    y = RNG.normal(size=N)
    noise = np.where(GROUP == "a", 0.1, 1.0)
    p = Predictions(np.arange(N), y, y + RNG.normal(0, noise))
    gap = inclusion_gaps(p, {"group": GROUP}, "mae")[0]
    maes = {g.value: g.metric for g in gap.groups}
    assert gap.measure == "metric_gap" and gap.equalized_odds_difference is None
    assert gap.gap == pytest.approx(maes["b"] - maes["a"]) and gap.gap > 0.5
