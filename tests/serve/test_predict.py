"""The batch path in process: the fast path agrees with the validator's, fallbacks of every kind, parsing."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from taxiway.serve.batching import MicroBatcher, model_executor
from taxiway.serve.fallback import FallbackPolicy
from taxiway.serve.inputs import Rows, check_columns
from taxiway.serve.model import ServedModel, served_from_frame
from taxiway.serve.predict import predict_columns, predict_frame
from taxiway.serve.problems import RequestError
from taxiway.serve.stats import StatsCollector

TRAIN = pd.DataFrame(
    {
        "x": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] * 5,
        "n": [1, 2, 3, 4, 5, 6] * 5,
        "c": ["a", "b", "a", "b", "a", "b"] * 5,
        "y": [0, 0, 0, 1, 1, 1] * 5,
    }
)


def _model(policy: FallbackPolicy | None = None, *, with_fallback: bool = True) -> ServedModel:
    features = TRAIN[["x", "n", "c"]]
    numbers = ColumnTransformer([("numbers", SimpleImputer(), ["x", "n"])])
    estimator = make_pipeline(numbers, LogisticRegression()).fit(features, TRAIN["y"])
    fallback = DummyClassifier(strategy="most_frequent").fit(features, TRAIN["y"]) if with_fallback else None
    return served_from_frame(estimator, TRAIN, target="y", policy=policy, fallback=fallback)


@pytest.mark.parametrize("seed", range(5))
def test_the_fast_path_and_the_validator_path_give_the_same_answers(seed: int) -> None:
    model = _model(FallbackPolicy("baseline", min_confidence=0.7))
    rng = np.random.default_rng(seed)
    pool: dict[str, list[Any]] = {
        "x": [0.1, 0.5, 0.99, 1.05, 5.0, None, float("nan"), "0.3", True],
        "n": [1, 3, 6, 2.0, 9, None, 2.5, "4"],
        "c": ["a", "b", "z", None, 7],
    }
    for _ in range(20):
        size = int(rng.integers(1, 6))
        columns = {
            name: [values[i] for i in rng.integers(0, len(values), size)] for name, values in pool.items()
        }
        fast = predict_columns(model, columns, size)
        slow = predict_frame(model, pd.DataFrame(columns, dtype=object))
        assert fast.predictions == slow.predictions, columns
        assert fast.reasons.tolist() == slow.reasons.tolist(), columns
        assert [[p.message for p in row] for row in fast.problems] == [
            [p.message for p in row] for row in slow.problems
        ]
        np.testing.assert_allclose(fast.confidence, slow.confidence)


def test_each_fallback_kind_answers_as_the_charter_says() -> None:
    rows = {"x": [0.5, 30.0], "n": [3, 3], "c": ["a", "a"]}
    baseline = predict_columns(_model(FallbackPolicy("baseline")), rows, 2)
    assert baseline.reasons.tolist() == [None, "out_of_range"] and baseline.answered_by == [
        "model",
        "baseline",
    ]
    abstained = predict_columns(_model(FallbackPolicy("abstain"), with_fallback=False), rows, 2)
    assert abstained.predictions[1] is None and abstained.answered_by[1] == "abstain"
    assert abstained.model_predictions[1] is not None and np.isnan(abstained.probabilities[1]).all()  # type: ignore[index]
    unseen = predict_columns(_model(), {"x": [0.5], "n": [3], "c": ["zebra"]}, 1)
    assert unseen.reasons.tolist() == ["unseen_category"]


def test_column_problems_are_a_422_naming_every_field() -> None:
    model = _model()
    with pytest.raises(RequestError, match="2 fields in 1 of 1 rows break the schema") as caught:
        check_columns(
            Rows.from_records([{"x": 0.1, "c": "a", "extra": 1}]), model.features, model.ignored, model.schema
        )
    assert {item["field"] for item in caught.value.detail} == {"n", "extra"} and caught.value.status == 422


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Rows.from_records({"x": 1}), "expected a list of rows"),
        (lambda: Rows.from_records([1]), "row 0 is a number"),
        (lambda: Rows.from_split(["x"], [[1, 2]]), "row 0 of 'data' must be a list of 1 values"),
        (lambda: Rows.from_split(["x", "x"], [[1, 2]]), "names a column twice"),
        (lambda: Rows.from_columns({"x": [1], "n": [1, 2]}), "same length"),
    ],
)
def test_malformed_tables_are_refused_with_the_reason(make: Any, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        make()


def test_a_request_whose_rows_break_the_model_fails_alone_in_its_batch() -> None:
    model = _model()

    class Picky:
        classes_ = np.array([0, 1])

        def predict_proba(self, X: pd.DataFrame) -> Any:
            if (X["n"] == 6).any():
                raise ValueError("six")
            return np.tile([0.2, 0.8], (len(X), 1))

    picky = ServedModel(**{**model.__dict__, "estimator": Picky()})

    async def two() -> list[Any]:
        batcher = MicroBatcher(picky, model_executor(1))
        results = await asyncio.gather(
            batcher.predict(Rows({"x": [0.1], "n": [6], "c": ["a"]}, 1)),
            batcher.predict(Rows({"x": [0.1], "n": [2], "c": ["a"]}, 1)),
            return_exceptions=True,
        )
        await batcher.close()
        return results

    broken, fine = asyncio.run(two())
    assert isinstance(broken, ValueError) and fine.predictions == [1]


def test_stats_snapshots_count_requests_rows_fallbacks_and_confidence() -> None:
    stats = StatsCollector()
    result = predict_columns(
        _model(FallbackPolicy("baseline")), {"x": [0.5, 30.0], "n": [3, 3], "c": ["a", "a"]}, 2
    )
    stats.record("v1", "live", 200, 0.010, result)
    stats.record("v1", "live", 422, 0.002, None)
    (snapshot,) = stats.snapshot(interval_s=2.0, always=(("v1", "live"),))
    assert (snapshot.requests, snapshot.errors, snapshot.rows, snapshot.fallback_rate) == (2, 1, 2, 0.5)
    assert snapshot.requests_per_s == 1.0 and snapshot.p99_ms is not None and snapshot.p99_ms <= 10.0
    assert stats.take_fallback_reasons() == {"out_of_range": 1}
    (quiet,) = stats.snapshot(interval_s=2.0, always=(("v1", "live"),))
    assert quiet.requests == 0 and quiet.p50_ms is None
