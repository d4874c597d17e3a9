"""Reading the state of the art from the charter, and the held-out gap's arithmetic."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from taxiway.charter import Charter
from taxiway.measure.cost import ErrorCosts
from taxiway.measure.predictions import Predictions
from taxiway.validate.plausibility import HeldOutGap, error_of, held_out_gap, state_of_the_art


def _charter(**problem: Any) -> Charter:
    return Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y", **problem}})


@pytest.mark.parametrize(
    ("text", "metric", "value"),
    [
        ("ROC AUC 0.65-0.75 in published work (2019, 12 papers)", "roc_auc", 0.75),
        ("about 81% accuracy on the UCI version", "accuracy", 0.81),
        ("papers report .72 to .78", "roc_auc", 0.78),  # no metric named: read as the ranking metric
        ("R² of 0.4 at best", "r2", 0.4),
    ],
)
def test_a_figure_is_read_from_the_text(text: str, metric: str, value: float) -> None:
    found, why = state_of_the_art(_charter(state_of_the_art=text), metric)
    assert found is not None and found.value == pytest.approx(value) and why == ""
    assert found.source == f"problem.state_of_the_art '{text}'"


@pytest.mark.parametrize(
    ("problem", "metric", "why"),
    [
        ({}, "roc_auc", "the charter states no problem.state_of_the_art"),
        ({"state_of_the_art": "AUC 0.7"}, "accuracy", "names another metric (roc_auc), not accuracy"),
        ({"state_of_the_art": "RMSE 12 dollars"}, "rmse", "set problem.state_of_the_art_score"),
        ({"state_of_the_art": "nobody has tried"}, "roc_auc", "gives no roc_auc figure between 0 and 1"),
    ],
)
def test_no_figure_says_why(problem: dict[str, Any], metric: str, why: str) -> None:
    found, reason = state_of_the_art(_charter(**problem), metric)
    assert found is None and why in reason


def test_a_stated_score_wins_over_the_text() -> None:
    found, _ = state_of_the_art(_charter(state_of_the_art="AUC 0.7", state_of_the_art_score=12.5), "rmse")
    assert found is not None and (found.value, found.source) == (12.5, "problem.state_of_the_art_score")


def test_errors_and_the_held_out_gap() -> None:
    assert error_of("r2", 0.25) == 0.75 and error_of("log_loss", 0.3) == 0.3
    gap = HeldOutGap("rmse", valid=10.0, test=20.0, valid_se=1.0, test_se=1.0, valid_rows=500, test_rows=500)
    assert gap.error_ratio == 2.0 and math.isclose(gap.z, 10 / math.sqrt(2))
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    valid = Predictions(np.arange(400), y, y + rng.normal(0, 1, 400))
    test = Predictions(np.arange(400), y, y + rng.normal(0, 2, 400))  # twice the error spread
    measured = held_out_gap(valid, test, "rmse", costs=ErrorCosts(), threshold=None, resamples=200, seed=0)
    assert measured is not None and 1.7 < measured.error_ratio < 2.3 and measured.z > 3
