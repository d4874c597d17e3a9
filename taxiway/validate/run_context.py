"""The context every measurement of one run shares, and the measurements that need the whole run.

:func:`load_context` loads the run's split and its packaged model once; the functions below use it to check
the outputs, score the test split, and measure feature value and staleness impact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from taxiway.charter.questions import question
from taxiway.data.split import SplitFrames, get_split, split_frames
from taxiway.errors import DataError, TaxiwayError
from taxiway.measure.cost import ErrorCosts
from taxiway.measure.metrics import METRICS, Task
from taxiway.measure.predictions import Predictions
from taxiway.measure.quality import metric_value, predict_rows, subset
from taxiway.measure.scores import score_predictions
from taxiway.measure.stability import Stability, check_outputs, combine
from taxiway.project import Project
from taxiway.train.features import feature_columns
from taxiway.train.packaged import load_trained
from taxiway.train.runs import Run
from taxiway.validate.feature_value import FeatureValue, feature_value
from taxiway.validate.reference import decision_threshold
from taxiway.validate.staleness import StalenessImpact, staleness_impact, to_time

SINGLE_ROW_CHECKS = 20  # validation rows also predicted one at a time, as a server predicts them
STACKED_ROWS = 200_000  # permutation importance: rows of shuffled copies predicted in one call
TRAIN_ROWS_CHECKED = 5_000  # training rows whose outputs are checked for NaN / infinity

__all__ = [
    "ModelSource",
    "RunContext",
    "check_stability",
    "feature_values",
    "load_context",
    "outputs",
    "ranking_metric",
    "score_test_split",
    "staleness",
]


def ranking_metric(project: Project) -> str:
    """The charter's ranking metric, or the task's default."""
    task = project.charter.problem.task
    return project.charter.problem.ranking_metric or str(
        question("problem.ranking_metric").default_value(task)
    )


@dataclass(frozen=True)
class RunContext:
    """A run, its split's rows and its loaded packaged model: what every measurement needs."""

    project: Project
    run: Run
    task: Task
    metric: str
    costs: ErrorCosts
    threshold: float | None
    frames: SplitFrames
    features: list[str]
    target: str
    model: Any
    strategy: str

    @property
    def method(self) -> str:
        return "predict_proba" if self.task == "classification" else "predict"

    def predict(self, rows: pd.DataFrame, model: Any = None) -> Predictions:
        return predict_rows(
            self.model if model is None else model, rows[self.features], rows[self.target], self.task
        )

    def value(self, predictions: Predictions, threshold: float | None = None) -> float:
        return metric_value(predictions, self.metric, costs=self.costs, threshold=threshold)


ModelSource = Callable[[SplitFrames, list[str]], Any]  # (the split's rows, the features) -> the model


def load_context(project: Project, run: Run, *, model_from: ModelSource | None = None) -> RunContext:
    """Load the run's split and packaged model; ``model_from``, given the rows and the features, supplies
    the model instead of loading the artifact here (validation takes it from its serving probe).

    Raises:
        TaxiwayError: the run did not finish, or has no packaged model or split.
        DataError: the charter names slice or protected columns the data does not have.
    """
    charter, store = project.charter, project.store
    hint = "validate a finished run that `taxiway train` made, e.g. the best candidate"
    if run.status != "finished":
        raise TaxiwayError(f"run {run.id} ({run.name}) is {run.status}, not finished", hint=hint)
    if run.model_artifact is None or run.split_id is None:
        raise TaxiwayError(f"run {run.id} ({run.name}) has no packaged model or no split", hint=hint)
    split = get_split(store, run.split_id)
    frames = split_frames(store, split)
    wanted = charter.data.slice_columns + charter.data.protected_columns
    missing = [c for c in wanted if c not in frames.valid.columns]
    if missing:
        raise DataError(
            f"data.slice_columns / data.protected_columns name {', '.join(missing)}, which the data lacks",
            hint=f"columns of dataset {split.dataset_id[:12]}: {', '.join(map(str, frames.valid.columns))}",
        )
    features = feature_columns(frames.train.columns, charter)
    if model_from is not None:
        model = model_from(frames, features)
    else:
        model = load_trained(store, run, root=project.root)
    return RunContext(
        project=project,
        run=run,
        task=charter.problem.task,
        metric=ranking_metric(project),
        costs=charter.error_costs(),
        threshold=decision_threshold(run),
        frames=frames,
        features=features,
        target=charter.problem.target,
        model=model,
        strategy=split.strategy,
    )


def outputs(predictions: Predictions) -> np.ndarray:
    return predictions.proba if predictions.proba is not None else predictions.y_pred


def check_stability(
    ctx: RunContext, valid: Predictions, test: Predictions, single_outputs: list[list[float]] | None = None
) -> Stability:
    """Outputs checked on validation, test, a sample of training rows and rows predicted one at a time.

    ``single_outputs`` are the outputs of the first validation rows, predicted one at a time by the serving
    probe (a fresh process, as a server predicts them); without them, the first :data:`SINGLE_ROW_CHECKS`
    are predicted here one at a time.
    """
    train = ctx.frames.train
    if len(train) > TRAIN_ROWS_CHECKED:
        train = train.iloc[np.linspace(0, len(train) - 1, TRAIN_ROWS_CHECKED).astype(int)]
    if single_outputs is not None:
        single = ctx.frames.valid.iloc[: len(single_outputs)]
        shape = (1, -1) if ctx.task == "classification" else (-1,)  # probabilities are one row each
        one_by_one = [np.asarray(output, dtype=float).reshape(shape) for output in single_outputs]
    else:
        single = ctx.frames.valid.iloc[:SINGLE_ROW_CHECKS]
        one_by_one = [outputs(ctx.predict(single.iloc[i : i + 1])) for i in range(len(single))]
    parts = [
        check_outputs(outputs(valid), source="valid", row_keys=valid.row_key),
        check_outputs(outputs(test), source="test", row_keys=test.row_key),
        check_outputs(outputs(ctx.predict(train)), source="train", row_keys=np.asarray(train.index)),
    ]
    if one_by_one:
        parts.append(
            check_outputs(
                np.concatenate(one_by_one), source="valid (one row at a time)", row_keys=single.index
            )
        )
    return combine(parts)


def score_test_split(ctx: RunContext, test: Predictions) -> dict[str, Any]:
    """The held-out test split's metrics, at the decision threshold chosen on validation."""
    rows = len(test.y_true)
    if rows == 0:
        return {"rows": 0, "error": "the test split is empty"}
    if check_outputs(outputs(test), source="test").non_finite:
        return {"rows": rows, "error": "the test predictions hold NaN or infinity"}
    metrics = score_predictions(test)
    metrics["expected_cost"] = metric_value(test, "expected_cost", costs=ctx.costs, threshold=ctx.threshold)
    return {
        "split_id": ctx.run.split_id,
        "rows": rows,
        "metric": ctx.metric,
        "value": ctx.value(test, ctx.threshold),
        "metrics": metrics,
    }


def feature_values(ctx: RunContext, seed: int) -> list[FeatureValue]:
    """Permutation importance of each feature on the validation rows, by the ranking metric."""
    greater = METRICS[ctx.metric].greater_is_better

    def scorer(estimator: Any, x: pd.DataFrame, y: pd.Series) -> float:
        value = ctx.value(predict_rows(estimator, x, y, ctx.task), ctx.threshold)
        return value if greater else -value

    def score_many(estimator: Any, copies: list[pd.DataFrame], y: pd.Series) -> list[float]:
        # One predict over many copies (index reset so rows stay apart), then the metric per copy; at most
        # STACKED_ROWS rows at a time, so wide data does not stack a huge frame.
        size, values = len(y), []
        per_call = max(1, STACKED_ROWS // max(size, 1))
        for start in range(0, len(copies), per_call):
            group = copies[start : start + per_call]
            stacked = pd.concat(group, ignore_index=True)
            truth = pd.concat([y] * len(group), ignore_index=True)
            everything = predict_rows(estimator, stacked, truth, ctx.task)
            for i in range(len(group)):
                block = subset(everything, np.arange(i * size, (i + 1) * size))
                values.append(ctx.value(block, ctx.threshold))
        return [value if greater else -value for value in values]

    rows = ctx.frames.valid
    return feature_value(
        ctx.model, rows[ctx.features], rows[ctx.target], scorer, seed=seed, score_many=score_many
    )


def staleness(ctx: RunContext, notes: list[str]) -> StalenessImpact | None:
    """Quality lost per month of age, on a time split with dates; else None and a note why."""
    column = ctx.project.charter.data.time_column
    if ctx.strategy != "time" or column is None:
        notes.append("staleness impact needs a time split (data.time_column): not measured")
        return None
    newest = ctx.frames.test if len(ctx.frames.test) else ctx.frames.valid
    train_times, newest_times = to_time(ctx.frames.train[column]), to_time(newest[column])
    if train_times is None or newest_times is None or len(newest) == 0:
        notes.append(f"staleness impact needs dates in {column}: not measured")
        return None
    from sklearn.base import clone

    def fit(rows: pd.DataFrame) -> Any:
        return clone(ctx.model).fit(rows[ctx.features], rows[ctx.target])

    # Each window's model gets its own best threshold on the scored rows (threshold None), so an expected
    # cost measures the ranking, not a threshold chosen for another model.
    impact = staleness_impact(
        fit,
        lambda model: ctx.value(ctx.predict(newest, model)),
        ctx.frames.train,
        train_times,
        newest_times.min(),
        ctx.metric,
        scored_rows=len(newest),
    )
    if impact is None:
        notes.append("staleness impact: fewer than two training windows could be fitted and scored")
    return impact
