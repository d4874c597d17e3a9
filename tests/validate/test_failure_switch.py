"""A failure predictor no better than chance is not switched on; one that separates wrong rows is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from taxiway.train.failure import fit_failure_predictor, out_of_fold
from taxiway.validate.failure import FailureReport, failure_report
from taxiway.validate.failure_switch import decide_failure_switch

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic


def _regression(noise_depends_on_x: bool, seed: int = 0) -> FailureReport:
    """A linear model whose errors either grow with x (predictable) or are pure noise (not)."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.uniform(0, 1, 3000), "b": rng.uniform(0, 1, 3000)})
    scale = 0.05 + 3 * (x["a"] > 0.8) if noise_depends_on_x else 0.5
    y = pd.Series(2 * x["b"] + rng.normal(0, 1, 3000) * scale)
    model = LinearRegression()
    oof = out_of_fold(model, x[:2000], y[:2000], "regression", seed=0)
    predictor = fit_failure_predictor(oof, "regression", seed=0)
    model.fit(x[:2000], y[:2000])
    return failure_report(predictor, model, x[2000:], y[2000:], "regression")


def test_a_predictor_at_chance_stays_off_and_says_why() -> None:
    report = _regression(noise_depends_on_x=False)
    switch = decide_failure_switch(report)
    assert report.roc_auc is not None and report.roc_auc < 0.6, report.summary()
    assert switch.enabled is False
    assert switch.reason.startswith("off: ROC AUC") and "chance" in switch.reason


def test_a_predictor_that_separates_wrong_rows_is_switched_on() -> None:
    report = _regression(noise_depends_on_x=True)
    switch = decide_failure_switch(report)
    assert report.roc_auc is not None and report.roc_auc > 0.7, report.summary()
    assert switch.enabled is True and switch.reason.startswith("on:")
