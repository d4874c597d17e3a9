"""Baselines every candidate must beat: a constant, a simple linear model, and the team's heuristic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from taxiway.measure.metrics import Task

CATEGORY_DTYPES = ["object", "string", "category", "bool"]
MAX_ONE_HOT_CATEGORIES = 30  # rarer values share one column: keeps the linear baseline small and fast


def constant_baseline(task: Task) -> BaseEstimator:
    """Always the majority-class share (classification) or the mean (regression)."""
    return DummyClassifier(strategy="prior") if task == "classification" else DummyRegressor(strategy="mean")


def linear_baseline(task: Task, seed: int) -> Pipeline:
    """A linear model with standard preprocessing: impute, scale numbers, one-hot encode categories.

    Example:
        >>> frame = pd.DataFrame({"x": [1.0, 2.0, None, 4.0], "c": ["a", "b", "a", None]})
        >>> linear_baseline("regression", seed=0).fit(frame, [1.0, 2.0, 1.5, 4.0]).predict(frame).shape
        (4,)
    """
    numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categories = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_ONE_HOT_CATEGORIES),
    )
    features = ColumnTransformer(
        [
            ("numbers", numbers, make_column_selector(dtype_include="number")),
            ("categories", categories, make_column_selector(dtype_include=CATEGORY_DTYPES)),
        ]
    )
    model = LogisticRegression(max_iter=1000, random_state=seed) if task == "classification" else Ridge()
    return Pipeline([("features", features), ("model", model)])


def default_candidate(task: Task) -> Callable[[dict[str, Any]], Pipeline]:
    """The candidate when the project names none: ordinal-encoded categories into gradient-boosted trees."""

    def build(params: dict[str, Any]) -> Pipeline:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
        )
        features = ColumnTransformer(
            [
                ("categories", encoder, make_column_selector(dtype_include=CATEGORY_DTYPES)),
                ("numbers", "passthrough", make_column_selector(dtype_include="number")),
            ]
        )
        boosted = (
            HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
        )
        return Pipeline([("features", features), ("model", boosted(**params))])

    return build


class HeuristicModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # sklearn is untyped
    """The team's ``heuristic(df)`` rule as an estimator, so it is scored like every other baseline.

    A classifier heuristic returns labels; its "probability" is 1 for the label it chose.
    """

    def __init__(self, rule: Callable[[pd.DataFrame], Any] | None = None) -> None:
        self.rule = rule

    def fit(self, X: pd.DataFrame, y: Any) -> HeuristicModel:
        self.classes_ = np.unique(np.asarray(y))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        assert self.rule is not None  # set by the runner, never by a user
        return np.asarray(self.rule(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        labels = self.predict(X)
        return np.asarray(labels[:, None] == self.classes_[None, :], dtype=float)


class HeuristicRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """The team's ``heuristic(df)`` rule for a regression target."""

    def __init__(self, rule: Callable[[pd.DataFrame], Any] | None = None) -> None:
        self.rule = rule

    def fit(self, X: pd.DataFrame, y: Any) -> HeuristicRegressor:
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        assert self.rule is not None
        return np.asarray(self.rule(X), dtype=float)
