"""Feature value (permutation importance) and feature cost (each transformer branch timed)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from taxiway.validate.feature_cost import feature_cost
from taxiway.validate.feature_value import feature_value

RNG = np.random.default_rng(4)
X = pd.DataFrame(
    {"cheap": RNG.normal(size=300), "costly": RNG.normal(size=300), "noise": RNG.normal(size=300)}
)
Y = pd.Series(2 * X["cheap"] + X["costly"] + RNG.normal(0, 0.1, 300))


class Slow(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A feature whose code takes 20 ms per batch (a lookup in a remote store, say)."""

    def fit(self, X: Any, y: Any = None) -> Slow:
        return self

    def transform(self, X: Any) -> Any:
        time.sleep(0.02)
        return np.asarray(X)


def _model() -> Pipeline:
    features = ColumnTransformer(
        [("fast", "passthrough", ["cheap", "noise"]), ("lookup", Slow(), ["costly"])]
    )
    return Pipeline([("features", features), ("model", LinearRegression())]).fit(X, Y)


def test_the_slow_feature_takes_most_of_the_predict_time() -> None:
    costs = feature_cost(_model(), X, repeats=3)
    by_name = {f.feature: f for f in costs.features}
    assert costs.method == "column_transformer" and set(by_name) == {"cheap", "noise", "costly"}
    assert by_name["costly"].step == "lookup" and by_name["costly"].share > 0.5
    assert by_name["cheap"].share < 0.1 and costs.most_costly is by_name["costly"]
    # Lower bounds only: the lookup sleeps 20 ms a batch, so neither figure can be smaller, at any load
    # (the two are separate medians: comparing them with each other would measure the machine's noise).
    assert by_name["costly"].seconds >= 0.02 and costs.predict_seconds >= 0.02


def test_a_model_without_a_column_transformer_is_not_split() -> None:
    costs = feature_cost(LinearRegression().fit(X, Y), X, repeats=2)
    assert costs.method == "not_separable" and costs.features == () and costs.model_seconds > 0


def test_features_that_do_not_help_are_found() -> None:
    model = _model()

    def score(estimator: Any, x: pd.DataFrame, y: pd.Series) -> float:
        return -float(np.mean(np.abs(estimator.predict(x) - y)))

    found = {f.feature: f for f in feature_value(model, X, Y, score, repeats=3, max_rows=200)}
    assert found["cheap"].helps and found["costly"].helps and not found["noise"].helps
    assert found["cheap"].importance > found["costly"].importance > found["noise"].importance


def test_scoring_every_shuffled_copy_in_one_call_finds_the_same_features() -> None:
    model = _model()

    def score(estimator: Any, x: pd.DataFrame, y: pd.Series) -> float:
        return -float(np.mean(np.abs(estimator.predict(x) - y)))

    calls: list[int] = []

    def score_many(estimator: Any, copies: list[pd.DataFrame], y: pd.Series) -> list[float]:
        calls.append(len(copies))
        predicted = estimator.predict(pd.concat(copies, ignore_index=True)).reshape(len(copies), len(y))
        return [-float(np.mean(np.abs(row - y.to_numpy()))) for row in predicted]

    one_by_one = {f.feature: f for f in feature_value(model, X, Y, score, repeats=3, max_rows=200)}
    batched = {
        f.feature: f
        for f in feature_value(model, X, Y, score, repeats=3, max_rows=200, score_many=score_many)
    }
    assert calls == [1 + 3 * len(X.columns)], "one call for the unshuffled rows and every shuffled copy"
    assert {name: f.helps for name, f in batched.items()} == {name: f.helps for name, f in one_by_one.items()}
    for name in X.columns:
        assert (
            abs(batched[name].importance - one_by_one[name].importance)
            <= 0.5 * one_by_one["cheap"].importance
        )
