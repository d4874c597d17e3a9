"""The failure predictor learns where the model goes wrong, is stored with the run, and loads back the same.

Data with a planted noisy region: the label follows the numbers everywhere but in region "d", where it is a
coin flip. Any model is wrong about half the time there and rarely elsewhere, so the predictor must rank
region "d" rows as the risky ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from taxiway.measure.metrics import Task
from taxiway.store import Store
from taxiway.train.baselines import default_candidate
from taxiway.train.failure import (
    ARTIFACT,
    MAX_ROWS,
    FailurePredictor,
    fit_failure_predictor,
    load_failure_predictor,
    nothing_to_learn,
    out_of_fold,
    record_failure_predictor,
)
from taxiway.train.failure_inputs import training_frame
from taxiway.train.runs import get_run, run_artifacts
from taxiway.train.tracking import start_run

SEED = 7


def noisy_rows(rows: int, seed: int, *, task: Task = "classification") -> tuple[pd.DataFrame, pd.Series]:
    """Numbers (with gaps), a text region and a category; region "d" is pure noise."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.normal(size=rows),
            "region": rng.choice(["a", "b", "c", "d"], size=rows),
            "kind": pd.Categorical(rng.choice(["x", "y"], size=rows)),
        }
    )
    x.loc[rng.random(rows) < 0.05, "b"] = np.nan
    x.loc[rng.random(rows) < 0.05, "region"] = None
    signal = x["a"] + x["b"].fillna(0)
    noisy = (x["region"] == "d").to_numpy()
    if task == "classification":
        classes = (signal > 0).astype(int).to_numpy(copy=True)
        classes[noisy] = rng.integers(0, 2, size=int(noisy.sum()))
        return x, pd.Series(classes, name="y")
    values = 3 * signal.to_numpy(copy=True) + rng.normal(scale=0.1, size=rows)
    values[noisy] += rng.normal(scale=5.0, size=int(noisy.sum()))
    return x, pd.Series(values, name="y")


def candidate(task: Task = "classification") -> Any:
    """The default candidate, with fewer trees: as taxiway trains it when a project names none."""
    return default_candidate(task)({"max_iter": 50})


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # As `taxiway train` runs them (train.threads): on a shared 2-core machine OpenMP's 2 threads made these
    # small boosted-tree fits several times slower than 1.
    with threadpool_limits(1):
        yield


def test_the_risk_is_higher_where_the_labels_are_noise_and_separates_wrong_from_right() -> None:
    x, y = noisy_rows(3_000, SEED)
    predictor = fit_failure_predictor(
        out_of_fold(candidate(), x, y, "classification", seed=SEED), "classification", seed=SEED
    )
    assert predictor is not None and predictor.rows == 3_000
    assert 0.1 < (predictor.oof_error_rate or 0) < 0.25  # ~half of a quarter of the rows, plus a few

    x_test, y_test = noisy_rows(2_000, SEED + 1)
    model = candidate().fit(x, y)
    proba = model.predict_proba(x_test)
    risk = predictor.risk(x_test, proba)
    noisy = (x_test["region"] == "d").to_numpy()
    assert risk[noisy].mean() > 2 * risk[~noisy].mean()
    wrong = model.classes_[proba.argmax(axis=1)] != y_test.to_numpy()
    assert roc_auc_score(wrong, risk) > 0.6
    flagged = predictor.is_likely_wrong(x_test, proba)
    assert flagged.any() and wrong[flagged].mean() > wrong[~flagged].mean()


def test_the_predictor_is_stored_with_the_run_and_loads_back_with_the_same_risks(store: Store) -> None:
    x, y = noisy_rows(1_500, SEED)
    model = candidate().fit(x, y)
    with start_run("candidate", kind="candidate", store=store) as run:
        trained = record_failure_predictor(run, model, x, y, "classification", seed=SEED, threads=1)
    assert trained is not None
    tags = get_run(store, run.id).tags
    assert tags["failure_predictor"] == run_artifacts(store, run.id)[ARTIFACT]
    assert tags["failure_predictor_format"] == "skops" and tags["failure_predictor_threshold"] == 0.5
    assert tags["failure_predictor_rows"] == 1_500 and 0 < tags["failure_predictor_oof_error_rate"] < 0.5
    assert tags["failure_predictor_wrong_above"] is None  # classification: wrong is a wrong class

    loaded = load_failure_predictor(store, run.id)
    assert isinstance(loaded, FailurePredictor) and loaded.task == "classification"
    assert (loaded.threshold, loaded.rows) == (0.5, 1_500)
    x_test, _ = noisy_rows(500, SEED + 1)
    proba = model.predict_proba(x_test)
    np.testing.assert_array_equal(loaded.risk(x_test, proba), trained.risk(x_test, proba))


def test_rows_as_a_request_sends_them_read_the_same_as_training_rows() -> None:
    x, y = noisy_rows(1_500, SEED)
    model = candidate().fit(x, y)
    predictor = fit_failure_predictor(
        out_of_fold(model, x, y, "classification", seed=SEED), "classification", seed=SEED
    )
    assert predictor is not None
    rows = x.iloc[:50]
    proba = model.predict_proba(rows)
    # JSON brings numbers as text and categories as plain strings; a value never seen counts as unknown.
    sent = rows.assign(a=rows["a"].astype(str), kind=rows["kind"].astype(str))
    np.testing.assert_allclose(predictor.risk(sent, proba), predictor.risk(rows, proba))
    unseen = predictor.risk(rows.assign(region="zz"), proba)
    assert np.isfinite(unseen).all() and ((0 <= unseen) & (unseen <= 1)).all()


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("rows", [1, 40, 600])  # walked trees up to 256 rows, scikit-learn's predict beyond
def test_the_request_path_gives_the_saved_pipelines_risk_bit_for_bit(task: Task, rows: int) -> None:
    x, y = noisy_rows(1_500, SEED, task=task)
    model = candidate(task).fit(x, y)
    predictor = fit_failure_predictor(out_of_fold(model, x, y, task, seed=SEED), task, seed=SEED)
    assert predictor is not None
    fresh, _ = noisy_rows(rows, SEED + 1, task=task)
    # what requests bring: numbers as text, an unseen region, categories as plain strings, gaps
    fresh = fresh.assign(a=fresh["a"].astype(object), kind=fresh["kind"].astype(str))
    fresh.loc[fresh.index[::3], "a"] = fresh["a"].iloc[::3].astype(str)
    fresh.loc[fresh.index[::5], "region"] = "never seen"
    fresh.loc[fresh.index[::7], "b"] = np.nan
    output = model.predict_proba(fresh) if task == "classification" else model.predict(fresh)
    columns = predictor.pipeline.named_steps["columns"]
    chosen = {name: list(cols) for name, _, cols in columns.transformers_}
    numbers = [c for c in chosen["numbers"] if not c.startswith("__")]
    frame = training_frame(fresh, output, task, numbers, chosen["categories"])
    expected = predictor.pipeline.predict_proba(frame)[:, 1]
    np.testing.assert_array_equal(predictor.risk(fresh, output), expected)


def test_a_model_that_is_never_wrong_out_of_fold_leaves_nothing_to_learn(store: Store) -> None:
    rng = np.random.default_rng(SEED)
    x = pd.DataFrame({"a": rng.normal(size=600)})
    y = pd.Series((x["a"] > 0).astype(int))
    tree = DecisionTreeClassifier(random_state=0)
    oof = out_of_fold(tree, x, y, "classification", seed=SEED)
    assert not oof.wrong.any() and fit_failure_predictor(oof, "classification", seed=SEED) is None
    with start_run("candidate", kind="candidate", store=store) as run:
        assert record_failure_predictor(run, tree.fit(x, y), x, y, "classification", seed=SEED) is None
    tags = get_run(store, run.id).tags
    assert tags["failure_predictor"] is None
    assert tags["failure_predictor_skipped"] == (
        "all 600 out-of-fold predictions were right: no errors to learn from"
    )
    assert load_failure_predictor(store, run.id) is None and ARTIFACT not in run_artifacts(store, run.id)


def test_a_class_too_rare_for_three_folds_is_said_instead_of_failing_the_run(store: Store) -> None:
    x, y = noisy_rows(300, SEED)
    y.iloc[0] = 2  # one row of a third class: 3-fold cross-validation cannot give every fold one
    assert nothing_to_learn(y, "classification") == (
        "class 2 has 1 training row, fewer than the 3 cross-validation folds"
    )
    with start_run("candidate", kind="candidate", store=store) as run:
        assert record_failure_predictor(run, candidate(), x, y, "classification", seed=SEED) is None
    assert "class 2 has 1 training row" in get_run(store, run.id).tags["failure_predictor_skipped"]


def test_regression_marks_the_worst_fifth_of_errors_and_finds_the_noisy_region(store: Store) -> None:
    x, y = noisy_rows(3_000, SEED, task="regression")
    oof = out_of_fold(candidate("regression"), x, y, "regression", seed=SEED)
    assert oof.wrong_above is not None and oof.wrong_above > 0
    assert oof.error_rate == pytest.approx(0.2, abs=0.001)
    assert oof.wrong[(x["region"] == "d").to_numpy()].mean() > 0.5  # most of the worst errors are in "d"

    model = candidate("regression").fit(x, y)
    with start_run("candidate", kind="candidate", store=store) as run:
        assert record_failure_predictor(run, model, x, y, "regression", seed=SEED) is not None
    loaded = load_failure_predictor(store, run.id)
    assert loaded is not None and loaded.task == "regression"
    assert loaded.wrong_above == pytest.approx(oof.wrong_above)
    x_test, y_test = noisy_rows(1_000, SEED + 1, task="regression")
    predicted = model.predict(x_test)
    risk = loaded.risk(x_test, predicted)
    noisy = (x_test["region"] == "d").to_numpy()
    assert risk[noisy].mean() > 2 * risk[~noisy].mean()
    assert roc_auc_score(np.abs(predicted - y_test) > loaded.wrong_above, risk) > 0.6


def test_large_training_sets_are_sampled_reproducibly_with_the_seed() -> None:
    x, y = noisy_rows(2_000, SEED)
    first = out_of_fold(candidate(), x, y, "classification", seed=SEED, max_rows=500)
    again = out_of_fold(candidate(), x, y, "classification", seed=SEED, max_rows=500)
    other = out_of_fold(candidate(), x, y, "classification", seed=SEED + 1, max_rows=500)
    assert len(first.x) == 500 and first.x.index.is_monotonic_increasing
    assert first.x.index.equals(again.x.index) and np.array_equal(first.output, again.output)
    assert not first.x.index.equals(other.x.index)
    assert MAX_ROWS == 20_000


class _DuckTyped:
    """fit/predict/predict_proba without scikit-learn's get_params: trainable, but not clonable."""

    def fit(self, x: pd.DataFrame, y: pd.Series) -> _DuckTyped:
        self.classes_ = np.unique(y)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(x), dtype=int)

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return np.tile([0.5, 0.5], (len(x), 1))


def test_a_model_cross_validation_cannot_copy_is_skipped_with_the_reason(store: Store) -> None:
    x, y = noisy_rows(300, SEED)
    with start_run("candidate", kind="candidate", store=store) as run:
        model = _DuckTyped().fit(x, y)
        assert record_failure_predictor(run, model, x, y, "classification", seed=SEED) is None
    reason = get_run(store, run.id).tags["failure_predictor_skipped"]
    assert reason.startswith("the candidate (_DuckTyped) cannot be cloned for cross-validation")
