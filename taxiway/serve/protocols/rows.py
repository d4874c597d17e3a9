"""Rows out of other protocols' payloads: JSON as their clients write it, one value a field, problems as text.

The MLflow scoring protocol and the Open Inference Protocol both end in
:meth:`~taxiway.serve.service.PredictionService.predict`, with records (``[{column: value}, ...]``), the shape
the native ``/predict`` sends too: so a row is checked, coerced and answered the same whichever way it came.
"""

from __future__ import annotations

from typing import Any

from taxiway.data.schema_check import FieldProblem
from taxiway.serve.request import BadRequest
from taxiway.serve.service import InvalidRows, RequestRefused

__all__ = [
    "UnsupportedMediaType",
    "canary_key",
    "check_rows",
    "records_from_columns",
    "summary",
]

SHOWN_PROBLEMS = 5  # in a one-line message; every problem is in `detail`


class UnsupportedMediaType(RequestRefused):
    """A body in a content type or content encoding the protocol does not read: 415."""

    http_status = 415


def records_from_columns(columns: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Rows from ``{column: [value per row]}``; all scalars are one row (as MLflow reads ``inputs``).

    Raises:
        BadRequest: some columns are lists and some are not, or the lists differ in length.

    Example:
        >>> records_from_columns({"a": [1, 2], "b": ["x", "y"]}, "inputs")
        [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'y'}]
        >>> records_from_columns({"a": 1, "b": "x"}, "inputs")
        [{'a': 1, 'b': 'x'}]
    """
    if not any(isinstance(values, list) for values in columns.values()):
        return [dict(columns)]
    lengths = {name: len(values) if isinstance(values, list) else None for name, values in columns.items()}
    scalar = next((name for name, length in lengths.items() if length is None), None)
    if scalar is not None:
        raise BadRequest(
            f"{where}.{scalar} is one value while other columns are lists",
            hint=f"give every column of {where} a list with one value per row",
        )
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        raise BadRequest(
            f"the columns of {where} differ in length ({shown})",
            hint="every column needs exactly one value per row",
        )
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def check_rows(rows: list[dict[str, Any]]) -> None:
    """Refuse a record with no field (400), and fields holding an object or a list (422, as native).

    The schema check compares scalars, one column per field: a record without any names no column.

    Example:
        >>> check_rows([{"a": 1}, {"a": [1, 2]}])
        Traceback (most recent call last):
        ...
        taxiway.serve.refusals.InvalidRows: 1 of 2 rows do not match the model's input schema
    """
    empty = next((position for position, row in enumerate(rows) if not row), None)
    if empty is not None:
        raise BadRequest(
            f"row {empty} has no fields",
            hint='send one field per model input: {"column": value, ...}; GET /docs lists them',
        )
    problems: list[list[FieldProblem]] = [[] for _ in rows]
    found = False
    for position, row in enumerate(rows):
        for name, value in row.items():
            if isinstance(value, dict | list):
                kind = "an object" if isinstance(value, dict) else "a list"
                message = f"{name}: is {kind}; a field holds one value"
                problems[position].append(FieldProblem(name, "wrong_type", message))
                found = True
    if found:
        raise InvalidRows(problems)


def summary(error: InvalidRows, *, shown: int = SHOWN_PROBLEMS) -> str:
    """The refusal and its first problems in one line, for clients that show a single message.

    Example:
        >>> rows = [[], [FieldProblem("month", "wrong_type", "month: 'x' is not an integer")]]
        >>> summary(InvalidRows(rows))
        "1 of 2 rows do not match the model's input schema: row 1: month: 'x' is not an integer"
    """
    problems = error.detail()
    listed = "; ".join(f"row {problem['row']}: {problem['message']}" for problem in problems[:shown])
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    return f"{error.message}: {listed}{more}"


def canary_key(parameters: Any, where: str) -> str | None:
    """The optional ``key`` among a request's parameters: it keeps a caller on one side of a canary.

    Raises:
        BadRequest: the parameters are not an object, or the key is not text or a number.

    Example:
        >>> canary_key({"key": 42, "temperature": 0.1}, "params"), canary_key(None, "params")
        ('42', None)
    """
    if parameters is None:
        return None
    if not isinstance(parameters, dict):
        raise BadRequest(
            f"{where} must be a JSON object, not {type(parameters).__name__}",
            hint=f'send {where} as {{"name": value}}, or leave it out',
        )
    key = parameters.get("key")
    if key is None:
        return None
    if isinstance(key, bool) or not isinstance(key, str | int | float):
        raise BadRequest(
            f"{where}.key must be text or a number, not {type(key).__name__}",
            hint="the key keeps a caller on the same side of a canary: send a user or session id",
        )
    return str(key)
