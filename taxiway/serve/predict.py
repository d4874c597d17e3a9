"""The one internal batch path every protocol, the micro-batcher and ``taxiway predict`` answer from.

validate (the data schema's vectorised validator) → reject or cast → the model → failure detection →
the fallback for the rows that need it. It is synchronous and CPU-bound: the server runs it in a thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from taxiway.data.validate import FieldProblem, row_failures, validate_frame
from taxiway.serve.clean import clean_frame
from taxiway.serve.fallback import low_confidence, schema_reasons, split_report
from taxiway.serve.inputs import Column, model_frame
from taxiway.serve.model import ServedModel

_NUMBER_TYPES = ("integer", "float")
_PLAIN_KINDS = frozenset(
    {"string", "integer", "floating", "mixed-integer-float", "boolean", "empty", "decimal"}
)


@dataclass(frozen=True)
class BatchResult:
    """Per row of a batch: the problems that rejected it, or the answer and who gave it.

    ``predictions`` are JSON-ready (labels or numbers; None for a rejected or abstained row),
    ``probabilities`` are the answer's class probabilities (NaN where there is none), ``confidence``
    the model's own top probability, ``model_predictions`` what the model said before any fallback.

    Example:
        >>> result = BatchResult.rejected([[FieldProblem("x", "wrong_type", "x: 'a' is not a number")]])
        >>> result.n_rows, result.is_rejected.tolist()
        (1, [True])
    """

    problems: list[list[FieldProblem]]
    predictions: list[Any]
    model_predictions: list[Any]
    probabilities: np.ndarray | None
    confidence: np.ndarray
    reasons: np.ndarray  # fallback reason per row, or None
    answered_by: list[str | None]  # "model", the fallback's name, "abstain"; None when rejected

    @property
    def n_rows(self) -> int:
        return len(self.problems)

    @property
    def is_rejected(self) -> np.ndarray:
        return np.fromiter((bool(row) for row in self.problems), dtype=bool, count=self.n_rows)

    @classmethod
    def rejected(cls, problems: list[list[FieldProblem]]) -> BatchResult:
        n = len(problems)
        return cls(
            problems=problems,
            predictions=[None] * n,
            model_predictions=[None] * n,
            probabilities=None,
            confidence=np.full(n, np.nan),
            reasons=np.full(n, None, dtype=object),
            answered_by=[None] * n,
        )

    def rows(self, start: int, stop: int) -> BatchResult:
        """The slice of one request in a micro-batch."""
        return BatchResult(
            problems=self.problems[start:stop],
            predictions=self.predictions[start:stop],
            model_predictions=self.model_predictions[start:stop],
            probabilities=None if self.probabilities is None else self.probabilities[start:stop],
            confidence=self.confidence[start:stop],
            reasons=self.reasons[start:stop],
            answered_by=self.answered_by[start:stop],
        )


def predict_columns(model: ServedModel, columns: Mapping[str, Column], n_rows: int) -> BatchResult:
    """Answer rows given column by column (the micro-batcher's input), by the fast path when it can.

    A batch :func:`taxiway.serve.clean.clean_frame` finds certainly valid goes straight to the model;
    any other goes through :func:`predict_frame` and the validator. Both give the same answers.

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> from taxiway.serve.model import served_from_frame
        >>> train = pd.DataFrame({"x": [0.0, 0.1, 0.9, 1.0], "y": [0, 0, 1, 1]})
        >>> model = served_from_frame(LogisticRegression().fit(train[["x"]], train["y"]), train, target="y")
        >>> predict_columns(model, {"x": [0.0, 1.0]}, 2).predictions
        [0, 1]
    """
    x = clean_frame(model.schema, columns, model.dtypes, n_rows)
    if x is None:
        return predict_frame(model, pd.DataFrame(dict(columns), index=pd.RangeIndex(n_rows)))
    problems: list[list[FieldProblem]] = [[] for _ in range(n_rows)]
    return _answer(model, x, problems, np.ones(n_rows, dtype=bool), np.full(n_rows, None, dtype=object))


def predict_frame(model: ServedModel, frame: pd.DataFrame) -> BatchResult:
    """Answer every row of ``frame`` (the model's columns, values as sent) with the model or its fallback.

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> from taxiway.serve.model import served_from_frame
        >>> train = pd.DataFrame({"x": [0.0, 0.1, 0.9, 1.0], "y": [0, 0, 1, 1]})
        >>> model = served_from_frame(LogisticRegression().fit(train[["x"]], train["y"]), train, target="y")
        >>> result = predict_frame(model, pd.DataFrame({"x": [0.0, 9.0, "a"]}))
        >>> result.predictions, result.reasons.tolist(), result.is_rejected.tolist()
        ([0, None, None], [None, 'out_of_range', None], [False, False, True])
        >>> result.answered_by
        ['model', 'abstain', None]
    """
    n_rows = len(frame)
    rejected, doubtful = split_report(validate_frame(model.schema, frame))
    problems = row_failures(rejected) if rejected.violations else [[] for _ in range(n_rows)]
    _flag_unusable(model, frame, problems)
    ok = np.fromiter((not row for row in problems), dtype=bool, count=n_rows)
    reasons = schema_reasons(doubtful)
    reasons[~ok] = None
    x = (
        model_frame(frame if ok.all() else frame.iloc[np.flatnonzero(ok)], model.dtypes)
        if ok.any()
        else frame
    )
    return _answer(model, x, problems, ok, reasons)


def _answer(
    model: ServedModel,
    x: pd.DataFrame,
    problems: list[list[FieldProblem]],
    ok: np.ndarray,
    reasons: np.ndarray,
) -> BatchResult:
    """Run the model on ``x`` (the rows where ``ok``), then the fallback on the rows that need it."""
    n_rows = len(problems)
    predictions: list[Any] = [None] * n_rows
    model_predictions: list[Any] = [None] * n_rows
    answered_by: list[str | None] = [None] * n_rows
    width = len(model.classes) if model.classes is not None else 0
    probabilities = np.full((n_rows, width), np.nan) if model.classes is not None else None
    confidence = np.full(n_rows, np.nan)
    if not ok.any():
        return BatchResult(
            problems, predictions, model_predictions, probabilities, confidence, reasons, answered_by
        )
    positions = np.flatnonzero(ok)
    labels, proba = _model_outputs(model, x, reasons[positions] != None)
    if proba is not None:
        confidence[positions] = proba.max(axis=1)
        probabilities[positions] = proba  # type: ignore[index]
    chosen = reasons[positions]
    chosen[(chosen == None) & low_confidence(confidence[positions], model.policy)] = "low_confidence"
    reasons[positions] = chosen
    answers = list(labels)
    by: list[str | None] = ["model"] * len(positions)
    falls = np.flatnonzero(chosen != None)
    if len(falls):
        _answer_fallbacks(model, x, falls, answers, by, probabilities, positions)
    if len(positions) == n_rows:
        return BatchResult(problems, answers, labels, probabilities, confidence, reasons, by)
    for index, position in enumerate(positions.tolist()):
        predictions[position] = answers[index]
        model_predictions[position] = labels[index]
        answered_by[position] = by[index]
    return BatchResult(
        problems, predictions, model_predictions, probabilities, confidence, reasons, answered_by
    )


def _outputs(
    estimator: Any, x: pd.DataFrame, classes: np.ndarray | None
) -> tuple[list[Any], np.ndarray | None]:
    """(JSON-ready predictions, class probabilities or None) — argmax, as training scored them."""
    if classes is None:
        return np.asarray(estimator.predict(x), dtype=float).tolist(), None
    proba = np.asarray(estimator.predict_proba(x), dtype=float)
    return np.asarray(classes)[np.argmax(proba, axis=1)].tolist(), proba


def _model_outputs(
    model: ServedModel, x: pd.DataFrame, doubtful: np.ndarray
) -> tuple[list[Any], np.ndarray | None]:
    """The model's outputs; when it cannot read a doubtful row at all, it is asked about the others only.

    A value far outside training (1e308 in a scaled column) can overflow inside a pipeline. That row was
    going to the fallback anyway; failing the whole batch for it would turn bad input into a 500.
    """
    try:
        return _outputs(model.estimator, x, model.classes)
    except Exception:
        if not doubtful.any():
            raise
    labels: list[Any] = [None] * len(x)
    proba = np.full((len(x), len(model.classes)), np.nan) if model.classes is not None else None
    sure = np.flatnonzero(~doubtful)
    if len(sure):
        sure_labels, sure_proba = _outputs(model.estimator, x.iloc[sure], model.classes)
        for index, label in zip(sure.tolist(), sure_labels, strict=True):
            labels[index] = label
        if proba is not None:
            proba[sure] = sure_proba
    return labels, proba


def _answer_fallbacks(
    model: ServedModel,
    x: pd.DataFrame,
    falls: np.ndarray,
    answers: list[Any],
    by: list[str | None],
    probabilities: np.ndarray | None,
    positions: np.ndarray,
) -> None:
    fallback = model.fallback
    if fallback.estimator is None:
        labels: list[Any] = [None] * len(falls)
        proba = None
        name = "abstain"
    else:
        try:
            labels, proba = _outputs(fallback.estimator, x.iloc[falls], model.classes)
            name = fallback.name
        except Exception:  # noqa: BLE001 - the fallback cannot read these rows either: no answer for them
            labels, proba, name = [None] * len(falls), None, "abstain"
    for index, label in zip(falls.tolist(), labels, strict=True):
        answers[index] = label
        by[index] = name
    if probabilities is not None:
        probabilities[positions[falls]] = np.nan if proba is None else proba


def _flag_unusable(model: ServedModel, frame: pd.DataFrame, problems: list[list[FieldProblem]]) -> None:
    """Values the schema validator lets through but no model can use: infinity, nested objects and lists.

    Infinity passes a number check without a range; any value has a text form, so an object passes as a
    string. Both are a 422, found column by column (pandas infers a column's kind in C).
    """
    for name, spec in model.schema.columns.items():
        if name not in frame.columns:
            continue
        column = frame[name]
        is_number = spec.type in _NUMBER_TYPES  # the validator already refuses a list in a number column
        if (
            not is_number
            and column.dtype == object
            and pd.api.types.infer_dtype(column, skipna=True) not in _PLAIN_KINDS
        ):
            for position, value in enumerate(column.tolist()):
                if isinstance(value, dict | list):
                    message = (
                        f"{name}: {type(value).__name__} values are not accepted; send {spec.type} values"
                    )
                    problems[position].append(FieldProblem(name, "wrong_type", message))
        if spec.type not in _NUMBER_TYPES:
            continue
        numbers = (
            column if pd.api.types.is_float_dtype(column.dtype) else pd.to_numeric(column, errors="coerce")
        )
        values = np.asarray(numbers, dtype=float)
        for position in np.flatnonzero(np.isinf(values)).tolist():
            message = f"{name}: {values[position]!r} is not a finite number"
            problems[position].append(FieldProblem(name, "wrong_type", message))
