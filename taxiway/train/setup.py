"""What a training starts from: the data, split, features, metric and model code, and the records it fills."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from taxiway.charter.questions import question
from taxiway.data.split import Split, SplitFrames, current_split, split_dataset, split_frames
from taxiway.data.versions import DatasetVersion, latest_dataset
from taxiway.errors import TaxiwayError
from taxiway.measure.cost import CostResult
from taxiway.measure.metrics import Task
from taxiway.measure.predictions import Predictions
from taxiway.project import Project
from taxiway.train.baselines import default_candidate
from taxiway.train.features import feature_columns
from taxiway.train.lineage import CodeState, code_state
from taxiway.train.user_code import UserCode, load_user_code


@dataclass(frozen=True)
class ModelSpec:
    """One model to train: its run name, whether it is a baseline, and how to build it."""

    name: str
    kind: str  # baseline | candidate
    build: Callable[[], Any]
    params: dict[str, Any] = field(default_factory=dict)
    source: str = "taxiway"


@dataclass(frozen=True)
class TrainingSetup:
    """What a training (and a tuning study) starts from: see `prepare_training`."""

    project: Project
    dataset: DatasetVersion
    split: Split
    frames: SplitFrames
    features: list[str]
    metric: str
    user: UserCode
    code: CodeState


@dataclass(frozen=True)
class TrainedRun:
    """What one finished run scored on validation."""

    run_id: str
    name: str
    kind: str
    metrics: dict[str, float]
    cost: CostResult
    resources: dict[str, float]


class TrainProgress:
    """Hooks the CLI uses for a progress bar; the default does nothing."""

    def started(self, spec: ModelSpec, index: int, total: int) -> None: ...

    def finished(self, spec: ModelSpec, run: TrainedRun) -> None: ...

    def trial(self, number: int, index: int, total: int) -> None:
        """Tuning trial ``number`` (Optuna's) starts, the ``index``-th of ``total`` in this process."""


def prepare_training(project: Project, *, window_days: float | None = None) -> TrainingSetup:
    """The data, split, features, ranking metric, model code and code state a training starts from.

    Makes the split the charter asks for when the newest dataset version has none yet. With
    ``window_days`` (`taxiway ct run` passes ``ct.window_days``) the split is the charter's time split of
    only the newest rows: those less than ``window_days`` older than the newest ``data.time_column``.

    Raises:
        TaxiwayError: no data, a target the task cannot learn, or a pipeline.py that fails to import.
        DataError: the window leaves a split empty, lacks a class, or holds one value of the target.
    """
    charter, store = project.charter, project.store
    task: Task = charter.problem.task
    metric = charter.problem.ranking_metric or question("problem.ranking_metric").default_value(task)
    dataset = latest_dataset(store)
    if dataset is None:
        raise TaxiwayError("there is no dataset to train on", hint="add one first: taxiway data add FILE")
    if window_days is not None:
        split = split_dataset(store, dataset, charter, window_days=window_days).split
    else:
        split = current_split(store, dataset.id) or split_dataset(store, dataset, charter).split
    frames = split_frames(store, split)
    features = feature_columns(frames.train.columns, charter)
    _check_target(frames, charter.problem.target, task)
    user = load_user_code(project.root, charter, default_candidate(task))
    return TrainingSetup(project, dataset, split, frames, features, metric, user, code_state(project.root))


def _check_target(frames: SplitFrames, target: str, task: Task) -> None:
    y = frames.train[target]
    if task == "regression" and not pd.api.types.is_numeric_dtype(y):
        raise TaxiwayError(
            f"target '{target}' is not numeric (dtype {y.dtype}) but the task is regression",
            hint='set problem.task = "classification" in taxiway.toml, or convert the target to numbers',
        )
    if task == "classification" and y.nunique(dropna=True) < 2:
        raise TaxiwayError(
            f"target '{target}' has a single class ({y.dropna().unique()[:1].tolist()}) in the train split",
            hint="a classifier needs at least two classes; check the data or the target column",
        )
    if y.isna().any():
        raise TaxiwayError(
            f"target '{target}' is missing in {int(y.isna().sum())} training rows",
            hint="drop or label those rows, then add the data again",
        )


def predict_rows(estimator: Any, x: pd.DataFrame, y: pd.Series, task: Task) -> Predictions:
    """A fitted model's predictions on rows ``x`` (keyed by their index) with true values ``y``."""
    row_key = np.asarray(x.index)
    if task == "regression":
        return Predictions(row_key=row_key, y_true=y.to_numpy(), y_pred=np.asarray(estimator.predict(x)))
    proba = np.asarray(estimator.predict_proba(x), dtype=float)
    classes = np.asarray(estimator.classes_)
    return Predictions(
        row_key=row_key,
        y_true=y.to_numpy(),
        y_pred=classes[np.argmax(proba, axis=1)],
        proba=proba,
        classes=classes,
    )
