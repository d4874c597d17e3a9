"""A run's trained model loaded back with its rows: what behaviour tests and explanations run on.

Rows a person writes (JSON, YAML) name only some columns, in plain types. `RunModel.frame` turns them into
the frame the model was trained on: every feature column, in the training dtypes, with the columns left
out filled by a typical training value (the median of a number, the most frequent value otherwise).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from taxiway.data.split import SplitFrames, get_split, split_frames
from taxiway.errors import NotFoundError, TaxiwayError
from taxiway.measure.metrics import Task
from taxiway.project import Project
from taxiway.store.checks import Check
from taxiway.train.features import feature_columns
from taxiway.train.packaged import load_trained
from taxiway.train.runs import Run, get_run, list_runs


@dataclass(frozen=True)
class RunModel:
    """A finished run's model, the columns it reads, and the split it was trained on."""

    run: Run
    estimator: Any
    features: list[str]
    frames: SplitFrames
    task: Task

    @property
    def classes(self) -> np.ndarray | None:
        return np.asarray(self.estimator.classes_) if self.task == "classification" else None

    @cached_property
    def typical(self) -> dict[str, Any]:
        """Each feature's typical training value: the median of numbers, the most frequent value otherwise."""
        values: dict[str, Any] = {}
        for column in self.features:
            series = self.frames.train[column].dropna()
            if series.empty:
                values[column] = None
            elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                values[column] = _plain(series.median())
            else:
                values[column] = _plain(series.mode().iloc[0])
        return values

    def check_columns(self, names: Sequence[str], where: str) -> None:
        """Refuse a column the model does not read, naming where it was given and the closest column."""
        for name in names:
            if name not in self.features:
                guess = difflib.get_close_matches(str(name), self.features, n=1)
                hint = f"did you mean '{guess[0]}'? " if guess else ""
                raise TaxiwayError(
                    f"{where}: unknown column '{name}'",
                    hint=f"{hint}the model of run {self.run.id} reads: {', '.join(self.features)}",
                )

    def frame(self, rows: Sequence[Mapping[str, Any]], where: str) -> pd.DataFrame:
        """The rows as a model input frame; columns left out take their typical training value."""
        for row in rows:
            self.check_columns(list(row), where)
        full = pd.DataFrame([{**self.typical, **row} for row in rows], columns=self.features)
        dtypes = self.frames.train[self.features].dtypes
        return pd.DataFrame({c: _coerce(full[c], dtypes[c], f"{where}: column '{c}'") for c in self.features})

    def scores(self, frame: pd.DataFrame, score_class: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted labels (values, for regression) and the score tests compare: a class's probability.

        ``score_class`` picks the class (default: the second class, the positive one of a binary task).
        """
        if self.task == "regression":
            values = np.asarray(self.estimator.predict(frame), dtype=float)
            return values, values
        proba = np.asarray(self.estimator.predict_proba(frame), dtype=float)
        classes = np.asarray(self.estimator.classes_)
        labels = classes[np.argmax(proba, axis=1)]
        return labels, proba[:, self.class_index(score_class)]

    def class_index(self, score_class: Any = None) -> int:
        classes = [_plain(c) for c in np.asarray(self.estimator.classes_)]
        if score_class is None:
            return 1 if len(classes) > 1 else 0
        for index, label in enumerate(classes):
            if label == score_class or str(label) == str(score_class):
                return index
        raise TaxiwayError(
            f"class {score_class!r} is not a class of run {self.run.id}'s model",
            hint=f"its classes: {', '.join(map(str, classes))}",
        )


def load_run_model(project: Project, ref: str | None = None) -> RunModel:
    """Load run ``ref`` (default: the best candidate of the newest training) with its split.

    Raises:
        NotFoundError: no such run, or no trained candidate at all.
        TaxiwayError: the run has no model (not finished, or a trial).
    """
    store = project.store
    run = get_run(store, ref) if ref is not None else best_candidate(project)
    if run.status != "finished" or run.model_artifact is None or run.split_id is None:
        raise TaxiwayError(
            f"run {run.id} ({run.name}, {run.kind}, {run.status}) has no trained model",
            hint="give a finished baseline or candidate that `taxiway train` recorded (`taxiway runs`)",
        )
    estimator = load_trained(store, run, root=project.root)
    frames = split_frames(store, get_split(store, run.split_id))
    names = getattr(estimator, "feature_names_in_", None)
    features = (
        [str(n) for n in names]
        if names is not None
        else feature_columns(frames.train.columns, project.charter)
    )
    return RunModel(run, estimator, features, frames, project.charter.problem.task)


def best_candidate(project: Project) -> Run:
    """The best candidate of the newest `taxiway train`; else the newest finished candidate."""
    store = project.store
    trained = store.evidence.latest([Check.TRAIN_BASELINES]).get(Check.TRAIN_BASELINES)
    if trained is not None:
        try:
            return get_run(store, str(trained.details["best_candidate"]["run_id"]))
        except (KeyError, NotFoundError):
            pass
    finished = list_runs(store, kind="candidate", status="finished", limit=1)
    if not finished:
        raise NotFoundError("there is no trained candidate yet", hint="train one first: taxiway train")
    return finished[0]


def _coerce(values: pd.Series, dtype: Any, where: str) -> pd.Series:
    """``values`` in the training dtype; integers that became fractions stay floats rather than be cut."""
    try:
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            numbers = pd.to_numeric(values)
            if pd.api.types.is_integer_dtype(dtype) and not np.all(np.mod(numbers.dropna(), 1) == 0):
                return numbers.astype(float)
            return numbers.astype(float) if numbers.isna().any() else numbers.astype(dtype)
        return values.astype(dtype)
    except (ValueError, TypeError) as error:
        raise TaxiwayError(
            f"{where}: {values.tolist()[:3]} cannot be read as {dtype} ({error})",
            hint="give the value in the column's type, as in the training data",
        ) from None


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
