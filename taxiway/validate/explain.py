"""Debugging one prediction (ML Test Score I5): every pipeline step's output, then each column's contribution.

The model's steps are run one by one on the row, and each step's output is shown under its feature names.
Contributions are measured by occlusion: each input column in turn is replaced by its typical training
value (the median of a number, the most frequent value otherwise) and the change in the score is that
column's contribution. Occlusion works for any model, reads in the units of the score (a probability, or
the predicted value), and needs no extra dependency; unlike SHAP values the contributions need not add up
to the difference from the reference row (all columns typical) when columns interact, so that reference
score is shown too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from taxiway.errors import TaxiwayError
from taxiway.project import Project
from taxiway.registry.versions import list_versions
from taxiway.store.checks import Check
from taxiway.store.evidence import Limit, Measurement
from taxiway.validate.run_model import RunModel, load_run_model

METHOD = "occlusion: the column replaced by its typical training value (median, or most frequent)"


@dataclass(frozen=True)
class Step:
    """One pipeline step: its name, its class and its output for the row, by output feature name."""

    name: str
    transformer: str
    output: dict[str, Any]


@dataclass(frozen=True)
class Contribution:
    """How much one column moved the score: the score with the row's value minus with the typical one."""

    column: str
    value: Any
    reference: Any
    score_without: float
    contribution: float


@dataclass(frozen=True)
class Explanation:
    """The step-by-step computation of one prediction, and the columns that drove it."""

    run_id: str
    run_name: str
    task: str
    input: dict[str, Any]
    filled: list[str]  # columns the row left out, filled with their typical training value
    steps: list[Step]
    prediction: Any
    score_class: Any  # the class whose probability is explained; None for regression
    score: float
    probabilities: dict[str, float] | None
    reference_score: float  # every column at its typical value
    contributions: list[Contribution]  # largest effect first

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the document `taxiway explain --format json` prints."""
        document = asdict(self)
        document["method"] = METHOD
        return document


def parse_row(text: str) -> dict[str, Any]:
    """The ``--row`` JSON: one object of column → value.

    Example:
        >>> parse_row('{"dewp": 41.0, "origin": "JFK"}')
        {'dewp': 41.0, 'origin': 'JFK'}
        >>> parse_row('[1, 2]')
        Traceback (most recent call last):
        taxiway.errors.TaxiwayError: --row must be a JSON object of column → value, not a list
    """
    try:
        row = json.loads(text)
    except json.JSONDecodeError as error:
        raise TaxiwayError(
            f"--row is not valid JSON: {error.msg} (character {error.pos + 1})",
            hint='quote the whole row for the shell: --row \'{"dewp": 41.0, "origin": "JFK"}\'',
        ) from None
    if not isinstance(row, dict):
        raise TaxiwayError(
            f"--row must be a JSON object of column → value, not a {type(row).__name__}",
            hint='e.g. --row \'{"dewp": 41.0, "origin": "JFK"}\'',
        )
    return row


def explain_row(project: Project, run: str, row: dict[str, Any], *, score_class: Any = None) -> Explanation:
    """Explain run ``run``'s prediction for ``row`` and record ``model.debuggable`` evidence.

    Raises:
        NotFoundError: no run ``run``.
        TaxiwayError: the run has no model, the row names a column the model does not read, or a value
            does not fit its column.
    """
    model = load_run_model(project, run)
    frame = model.frame([row], "--row")
    steps = _steps(model.estimator, frame)
    labels, scores = model.scores(frame, score_class)
    explanation = Explanation(
        run_id=model.run.id,
        run_name=model.run.name,
        task=model.task,
        input={column: _plain(frame[column].iloc[0]) for column in model.features},
        filled=[column for column in model.features if column not in row],
        steps=steps,
        prediction=_plain(labels[0]),
        score_class=None if model.classes is None else _plain(model.classes[model.class_index(score_class)]),
        score=float(scores[0]),
        probabilities=_probabilities(model, frame),
        reference_score=float(model.scores(model.frame([{}], "reference"), score_class)[1][0]),
        contributions=_occlusion(model, frame, float(scores[0]), score_class),
    )
    # An explanation proves I5 only for a registered model, on a row that gives at least one column: a row
    # of typical values explains nothing, and a baseline is not the model that serves.
    given = [column for column in model.features if column in row]
    version = _model_version(project, model.run.id)
    project.store.evidence.record(
        Check.MODEL_DEBUGGABLE,
        subject_kind="model" if version is not None else "run",
        subject_id=version if version is not None else model.run.id,
        value=float(len(given)),
        limit=Limit(1, ">="),
        warn=f"run {model.run.id} is a baseline, not a model version"
        if model.run.kind == "baseline"
        else None,
        measured=Measurement(sample_size=1, method=METHOD),
        details={
            "run_id": model.run.id,
            "run_kind": model.run.kind,
            "given_columns": given,
            "steps": [step.name for step in steps],
            "columns": model.features,
            "method": METHOD,
            "top_contributions": [c.column for c in explanation.contributions[:3]],
        },
    )
    return explanation


def _model_version(project: Project, run_id: str) -> str | None:
    """The newest model version registered from ``run_id`` (``v3``), or None."""
    for version in list_versions(project.store):
        if version.run_id == run_id:
            return version.name
    return None


def _steps(estimator: Any, frame: pd.DataFrame) -> list[Step]:
    """Run a pipeline's transforms one at a time; the last step is the model's own output."""
    steps: list[Step] = []
    x: Any = frame
    chain = estimator.steps if isinstance(estimator, Pipeline) else [("model", estimator)]
    for name, step in chain[:-1]:
        if step is None or step == "passthrough":
            continue
        x = step.transform(x)
        steps.append(Step(name, type(step).__name__, _named(step, x)))
    name, final = chain[-1]
    output: dict[str, Any] = {"prediction": _plain(np.asarray(final.predict(x))[0])}
    if hasattr(final, "predict_proba"):
        proba = np.asarray(final.predict_proba(x), dtype=float)[0]
        output.update({f"proba_{_plain(c)}": float(p) for c, p in zip(final.classes_, proba, strict=True)})
    steps.append(Step(name, type(final).__name__, output))
    return steps


def _named(step: Any, x: Any) -> dict[str, Any]:
    """A transform's output row under its feature names (x0, x1, … when the step has none)."""
    if isinstance(x, pd.DataFrame):
        return {str(c): _plain(v) for c, v in x.iloc[0].items()}
    values = np.asarray(x.toarray() if hasattr(x, "toarray") else x)[0]
    try:
        names = [str(n) for n in step.get_feature_names_out()]
    except (AttributeError, ValueError, TypeError):
        names = []
    if len(names) != len(values):
        names = [f"x{i}" for i in range(len(values))]
    return {name: _plain(value) for name, value in zip(names, values, strict=True)}


def _occlusion(model: RunModel, frame: pd.DataFrame, score: float, score_class: Any) -> list[Contribution]:
    given = {column: _plain(frame[column].iloc[0]) for column in model.features}
    rows = [{**given, column: model.typical[column]} for column in model.features]
    _, without = model.scores(model.frame(rows, "--row"), score_class)
    found = [
        Contribution(
            column=column,
            value=given[column],
            reference=model.typical[column],
            score_without=float(without[index]),
            contribution=score - float(without[index]),
        )
        for index, column in enumerate(model.features)
    ]
    return sorted(found, key=lambda c: -abs(c.contribution))


def _probabilities(model: RunModel, frame: pd.DataFrame) -> dict[str, float] | None:
    if model.classes is None:
        return None
    proba = np.asarray(model.estimator.predict_proba(frame), dtype=float)[0]
    return {str(_plain(c)): float(p) for c, p in zip(model.classes, proba, strict=True)}


def _plain(value: Any) -> Any:
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value
