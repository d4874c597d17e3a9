"""The walked trees give scikit-learn's own probabilities, bit for bit, on every kind of row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier

from taxiway.train.tree_walk import TreeWalk

# Opens no store: the backend changes nothing here (make test-postgres leaves it out).
pytestmark = pytest.mark.store_agnostic


def rows_with_gaps(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(x), size=rows)
    x, y = x[picked] * rng.normal(1.0, 0.05, size=(rows, x.shape[1])), y[picked]
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values follow each node's learned side
    return x, y


@pytest.mark.parametrize(
    "params",
    [
        {"max_depth": 3, "min_samples_leaf": 40},
        {"max_depth": None, "max_leaf_nodes": 31},  # scikit-learn's defaults: deep, uneven trees
        {"max_depth": 2, "max_iter": 7, "learning_rate": 0.5},
    ],
)
def test_walked_probabilities_are_scikit_learns_exactly(params: dict[str, object]) -> None:
    x, y = rows_with_gaps(3_000, seed=1)
    model = HistGradientBoostingClassifier(random_state=0, **params).fit(x, y)
    walk = TreeWalk.of(model)
    assert walk is not None
    fresh, _ = rows_with_gaps(2_000, seed=2)
    fresh[:3] = np.inf  # beyond every threshold
    fresh[3:6] = -np.inf
    fresh[6] = np.nan  # a row of nothing at all
    np.testing.assert_array_equal(walk.predict_proba(fresh), model.predict_proba(fresh))
    for one in fresh[:20]:  # the request path: one row at a time
        np.testing.assert_array_equal(walk.predict_proba(one[None, :]), model.predict_proba(one[None, :]))


def test_early_stopped_models_walk_only_the_trees_they_kept() -> None:
    x, y = rows_with_gaps(12_000, seed=3)  # over 10,000 rows: early stopping is on by default
    model = HistGradientBoostingClassifier(random_state=0, max_iter=500).fit(x, y)
    walk = TreeWalk.of(model)
    assert walk is not None and model.n_iter_ < 500
    assert len(walk.roots) == model.n_iter_
    np.testing.assert_array_equal(walk.predict_proba(x[:500]), model.predict_proba(x[:500]))


def test_what_cannot_be_walked_is_left_to_scikit_learn() -> None:
    x, y = rows_with_gaps(600, seed=4)
    three_classes = HistGradientBoostingClassifier(max_iter=5).fit(x, y + (x[:, 0] > 15))
    assert TreeWalk.of(three_classes) is None  # one tree per class and iteration
    frame = pd.DataFrame({"size": x[:, 0], "kind": pd.Categorical(np.where(y == 1, "a", "b"))})
    categorical = HistGradientBoostingClassifier(max_iter=5, categorical_features="from_dtype").fit(frame, y)
    assert TreeWalk.of(categorical) is None  # categorical splits test bitsets, not thresholds
    assert TreeWalk.of(object()) is None
