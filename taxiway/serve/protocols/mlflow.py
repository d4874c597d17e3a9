"""The MLflow scoring protocol (MLflow 3, ``mlflow models serve``): ``/invocations``, ``/ping``, ``/version``.

Requests are read as ``mlflow/pyfunc/scoring_server/__init__.py`` reads them, answers and errors are
written in its shapes, and every row goes through the one batch path (validation, fallback, canary, shadow,
telemetry, logs). Where taxiway differs, on purpose:

- schema violations are MLflow's 400 ``INVALID_PARAMETER_VALUE`` / ``SCHEMA_ENFORCEMENT_FAILED``, with the
  first problems in ``message`` (MLflow's client shows only the text) and all of them in ``detail``, as the
  native 422 lists them; columns the schema does not know are refused (MLflow ignores them with a warning);
- other refusals keep taxiway's status, with the nearest MLflow ``error_code``: 408 ``DEADLINE_EXCEEDED``,
  413 ``REQUEST_LIMIT_EXCEEDED``, 503 ``TEMPORARILY_UNAVAILABLE``; a 415 is JSON too (MLflow's is plain text);
- ``params`` are ignored as MLflow ignores those a model does not declare, except ``params.key``, the
  native ``key`` that keeps a caller on one side of a canary;
- ``/version`` answers ``<taxiway version>+<live model version>`` (``0.1.0+v3``), a PEP 440 version.
"""

from __future__ import annotations

import csv
import io
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from taxiway import __version__
from taxiway.serve.protocols.rows import (
    UnsupportedMediaType,
    canary_key,
    check_rows,
    records_from_columns,
    summary,
)
from taxiway.serve.request import BadRequest, loads_lenient, read_body
from taxiway.serve.responses import answered_by, json_response, service_of
from taxiway.serve.service import InvalidRows, RequestRefused

__all__ = ["add_routes", "error_body", "rows_from_csv", "rows_from_json"]

_log = logging.getLogger("taxiway.serve")

JSON, CSV = "application/json", "text/csv"
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
# CSV fields that read as missing: the empty field, and what pandas' read_csv (MLflow's reader) takes for NaN.
MISSING_IN_CSV = frozenset(["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "#N/A", "<NA>"])
_ERROR_CODES = {
    400: "BAD_REQUEST",
    408: "DEADLINE_EXCEEDED",
    413: "REQUEST_LIMIT_EXCEEDED",
    415: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
}
_FORMAT_HINT = (
    'send {"dataframe_split": {"columns": [...], "data": [[...]]}} or {"dataframe_records": [{...}]} '
    "(MLflow's ScoringServerClient.invoke(DataFrame) sends the first)"
)

_INVOCATIONS_BODY = {
    "required": True,
    "content": {
        JSON: {
            "schema": {
                "type": "object",
                "properties": {
                    "dataframe_split": {
                        "type": "object",
                        "properties": {
                            "columns": {"type": "array", "items": {"type": "string"}},
                            "data": {"type": "array", "items": {"type": "array"}},
                            "index": {"type": "array"},
                        },
                        "required": ["columns", "data"],
                    },
                    "dataframe_records": {"type": "array", "items": {"type": "object"}},
                    "instances": {"type": "array", "items": {"type": "object"}},
                    "inputs": {"oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}]},
                    "params": {"type": "object"},
                },
                "minProperties": 1,
            }
        },
        CSV: {"schema": {"type": "string"}},
    },
}


def add_routes(app: FastAPI) -> None:
    """Add ``POST /invocations``, ``GET /ping`` and ``GET /version`` to the service's app."""
    # app.py imports this module before it defines these: take them when the routes are added.

    @app.post(
        "/invocations",
        summary="MLflow scoring protocol: predict a DataFrame (JSON or CSV)",
        openapi_extra={"requestBody": _INVOCATIONS_BODY},
    )
    async def invocations(request: Request) -> Response:
        service = service_of(request)
        try:
            body = await read_body(request, service.limits.max_body_bytes)
            if _media_type(request.headers.get("content-type")) == CSV:
                rows, key = rows_from_csv(body), None
            else:
                rows, key = rows_from_json(loads_lenient(body))
            prediction = await service.predict(rows, key=key, request_id=request.headers.get("x-request-id"))
        except RequestRefused as error:
            status, refusal = error_body(error)
            return json_response(refusal, status=status)
        except Exception as error:  # noqa: BLE001 - MLflow's clients read error_code: answer in its shape
            _log.exception("internal error answering POST /invocations")
            internal = {"error_code": "INTERNAL_ERROR", "message": f"internal error: {type(error).__name__}"}
            return json_response(internal, status=500)
        return json_response({"predictions": prediction.answer.predictions}, headers=answered_by(prediction))

    @app.get("/ping", summary="MLflow health check: 200 when a model is live, else 404 (as MLflow)")
    async def ping(request: Request) -> Response:
        live = service_of(request).lineup.live is not None
        return Response("\n", status_code=200 if live else 404, media_type=JSON)

    @app.get("/version", summary="MLflow version check: taxiway's version + the live model version")
    async def version(request: Request) -> Response:
        live = service_of(request).lineup.live
        return PlainTextResponse(__version__ if live is None else f"{__version__}+{live.name}")


def error_body(error: RequestRefused) -> tuple[int, dict[str, Any]]:
    """The status and the MLflow-shaped body (``error_code``, ``message``) of a refused request.

    Example:
        >>> status, body = error_body(BadRequest("the body is empty", hint="send JSON"))
        >>> status, body["error_code"], body["message"]
        (400, 'BAD_REQUEST', 'Invalid input. the body is empty')
    """
    if isinstance(error, InvalidRows):  # as MLflow's schema enforcement (mlflow/pyfunc/__init__.py)
        return 400, {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": f"Failed to enforce schema: {summary(error)}",
            "error_class": "SCHEMA_ENFORCEMENT_FAILED",
            "hint": error.hint,
            "detail": error.detail(),
        }
    code = _ERROR_CODES.get(error.http_status, "BAD_REQUEST")
    message = f"Invalid input. {error.message}" if error.http_status == 400 else error.message
    return error.http_status, {"error_code": code, "message": message, "hint": error.hint}


def _media_type(content_type: str | None) -> str:
    """``application/json`` or ``text/csv`` from a Content-Type header, as MLflow's server parses it.

    Raises:
        UnsupportedMediaType: another type, a charset other than UTF-8, or another parameter (415).
    """
    supported = f"This predictor only supports the following content types: Types: {[CSV, JSON]}."
    if content_type is None:
        raise UnsupportedMediaType(f"{supported} Got no Content-Type.", hint=f"send Content-Type: {JSON}")
    mime, *pairs = (part.strip() for part in content_type.split(";"))
    pairs = [pair for pair in pairs if pair]  # "application/json;" has no parameter
    parameters = {name.strip().lower(): value.strip() for name, _, value in (p.partition("=") for p in pairs)}
    if parameters.pop("charset", "utf-8").strip('"').lower() != "utf-8":
        raise UnsupportedMediaType("The scoring server only supports UTF-8", hint="encode the body as UTF-8")
    if parameters:
        raise UnsupportedMediaType(
            f"Unrecognized content type parameters: {', '.join(sorted(parameters))}",
            hint="MLflow 1's format=pandas-split is now the body's key: " + _FORMAT_HINT,
        )
    if mime.lower() not in (JSON, CSV):
        raise UnsupportedMediaType(f"{supported} Got '{content_type}'.", hint=f"send Content-Type: {JSON}")
    return mime.lower()


def rows_from_json(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The records and the canary key of an MLflow JSON body (one of :data:`FORMATS`, optional ``params``).

    Keys beside the format and ``params`` are ignored, as MLflow's server ignores them.

    Raises:
        BadRequest: not one of MLflow's shapes (400). InvalidRows: a field holds an object or a list (422).

    Example:
        >>> split = {"columns": ["a", "b"], "data": [[1, "x"]]}
        >>> rows_from_json({"dataframe_split": split, "params": {"key": 7}})
        ([{'a': 1, 'b': 'x'}], '7')
        >>> rows_from_json({"inputs": {"a": [1, 2]}})
        ([{'a': 1}, {'a': 2}], None)
    """
    required = f"The input must be a JSON dictionary with exactly one of the input fields {set(FORMATS)}"
    if not isinstance(body, dict):
        raise BadRequest(f"{required}. Received {_a(body)}.", hint=_FORMAT_HINT)
    formats = [name for name in FORMATS if name in body]
    if len(formats) != 1:
        received = f"Received dictionary with input fields: {list(body)}"
        raise BadRequest(f"{required}. {received}.", hint=_FORMAT_HINT)
    key = canary_key(body.get("params"), "params")
    name = formats[0]
    data = body[name]
    if name == "dataframe_split":
        rows = _split(data)
    elif name == "dataframe_records" or isinstance(data, list):
        rows = _records(data, name)
    elif isinstance(data, dict):
        rows = records_from_columns(data, name)
    else:
        raise BadRequest(
            f"{name} must be a list of records or an object of columns, not {_a(data)}",
            hint=f'this model takes named columns: {{"{name}": [{{"column": value}}, ...]}}',
        )
    check_rows(rows)
    return rows, key


def _split(data: Any) -> list[dict[str, Any]]:
    """Records from pandas' ``split`` orient: ``{"columns": [...], "data": [[...]], "index"?: [...]}``."""
    hint = 'send {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}, as DataFrame.to_dict(orient="split")'
    if not isinstance(data, dict):
        raise BadRequest(f"Dataframe split format must be a dictionary. Got {_a(data)}.", hint=hint)
    keys = set(data)
    if "data" not in keys or keys - {"columns", "data", "index"}:
        raise BadRequest(
            "Dataframe split format must have 'data' field and optionally 'columns' and 'index' fields. "
            f"Got {sorted(keys)}.",
            hint=hint,
        )
    columns, values = data.get("columns"), data["data"]
    if not isinstance(columns, list) or not all(isinstance(column, str) for column in columns):
        raise BadRequest("dataframe_split.columns must list the column names (text)", hint=hint)
    if len(set(columns)) != len(columns):
        twice = sorted({column for column in columns if columns.count(column) > 1})
        raise BadRequest(f"dataframe_split.columns names {', '.join(twice)} more than once", hint=hint)
    if not isinstance(values, list):
        raise BadRequest(f"dataframe_split.data must be a list of rows, not {_a(values)}", hint=hint)
    index = data.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(values)):
        raise BadRequest("dataframe_split.index must have one label per row of data", hint=hint)
    rows: list[dict[str, Any]] = []
    for position, row in enumerate(values):
        if not isinstance(row, list):
            row = [row]  # pandas reads [1, 2] with one column as two rows
        if len(row) != len(columns):
            raise BadRequest(
                f"row {position} of dataframe_split.data has {len(row)} values; columns names {len(columns)}",
                hint=hint,
            )
        rows.append(dict(zip(columns, row, strict=True)))
    return rows


def _records(data: Any, name: str) -> list[dict[str, Any]]:
    hint = f'send {{"{name}": [{{"column": value, ...}}, ...]}}, as DataFrame.to_dict(orient="records")'
    if not isinstance(data, list):
        raise BadRequest(f"{name} must be a list of records. Got {_a(data)}.", hint=hint)
    for position, row in enumerate(data):
        if not isinstance(row, dict):
            raise BadRequest(f"item {position} of {name} is {_a(row)}, not a record (an object)", hint=hint)
    return data


def rows_from_csv(body: bytes) -> list[dict[str, Any]]:
    """Records from a CSV with a header, as ``DataFrame.to_csv()`` writes it (with or without the index).

    Values stay text, as a JSON client's ``"7"`` would; the schema check casts them. A first column with an
    empty name is the index ``to_csv()`` writes, and is dropped.

    Raises:
        BadRequest: not UTF-8, not CSV, no header, repeated names, or a line with the wrong number of fields.

    Example:
        >>> rows_from_csv(b",month,origin\\n0,6,EWR\\n1,7,\\n")
        [{'month': '6', 'origin': 'EWR'}, {'month': '7', 'origin': None}]
    """
    hint = "send a CSV with a header line, as pandas' DataFrame.to_csv() writes it"
    try:
        text = body.decode("utf-8-sig")  # a byte order mark, as spreadsheets write, is not in the header
    except UnicodeDecodeError as error:
        raise BadRequest(f"the CSV is not UTF-8: {error}", hint="encode the body as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[dict[str, Any]] = []
    try:
        header = next((line for line in reader if line), None)  # blank lines are skipped, as pandas does
        if header is None:
            raise BadRequest("the CSV is empty: it needs a header line", hint=hint)
        drop_index = header[0] == "" and len(header) > 1
        names = header[1:] if drop_index else header
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise BadRequest(f"the CSV header names {', '.join(map(repr, twice))} more than once", hint=hint)
        for line in reader:
            if not line:
                continue
            if len(line) != len(header):
                raise BadRequest(
                    f"CSV line {reader.line_num} has {len(line)} fields; the header names {len(header)}",
                    hint=hint,
                )
            values = line[1:] if drop_index else line
            pairs = zip(names, values, strict=True)
            rows.append({name: None if value in MISSING_IN_CSV else value for name, value in pairs})
    except csv.Error as error:
        raise BadRequest(f"Failed to parse input as CSV: {error}", hint=hint) from None
    return rows


def _a(value: Any) -> str:
    """How a message names a JSON value's kind."""
    if isinstance(value, dict):
        return "a dictionary"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else f"type {type(value).__name__}"
