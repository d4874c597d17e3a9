"""MLflow's scoring protocol, so an MLflow user's client works unchanged.

``POST /invocations`` takes JSON with exactly one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs``, or a CSV table (``text/csv``), and answers ``{"predictions": [...]}``.
Errors read as MLflow's do: ``{"error_code": "BAD_REQUEST", "message": "..."}``; schema problems add
``detail`` (one entry per row and field) and answer 422, where MLflow would answer 400 without detail.
``GET /ping`` and ``GET /health`` answer 200 once a model is loaded; ``GET /version`` names the version.
"""

from __future__ import annotations

import io
import re
from importlib.metadata import version as package_version

import pandas as pd
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from taxiway.serve.direct import DirectRoute
from taxiway.serve.inputs import Rows
from taxiway.serve.problems import RequestError
from taxiway.serve.protocols._json import JSONBody, loads
from taxiway.serve.service import Answer, Service

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_FORMAT_HINT = f"send a JSON object with exactly one of {', '.join(FORMATS)}, or text/csv"
_ERROR_CODES = {400: "BAD_REQUEST", 408: "BAD_REQUEST", 413: "BAD_REQUEST", 422: "INVALID_PARAMETER_VALUE"}


def add_routes(app: FastAPI, service: Service) -> list[DirectRoute]:
    """Add ``/invocations``, ``/ping``, ``/health`` and ``/version``; return the direct ``POST`` route."""

    @app.post("/invocations", tags=["mlflow"], summary="Predict (MLflow scoring protocol)")
    async def invocations(request: Request) -> Response:
        """Answer a table sent as MLflow's scoring server expects it (JSON or CSV)."""
        return await service.handle(request, "invocations", _parse, _render, _error)

    async def ping() -> Response:
        ready = service.is_ready
        return Response("\n", status_code=200 if ready else 503, media_type="application/json")

    app.get("/ping", tags=["mlflow"], summary="Liveness (MLflow)")(ping)
    app.get("/health", tags=["mlflow"], summary="Health (MLflow)")(ping)

    @app.get("/version", tags=["mlflow"], summary="Server and model version")
    async def version() -> Response:
        return Response(
            f"taxiway {package_version('taxiway')}; model {service.slots.live.version}",
            media_type="text/plain",
        )

    return [DirectRoute(re.compile("/invocations"), invocations)]


async def _parse(request: Request, body: bytes) -> Rows:
    content_type = request.headers.get("content-type", "application/json")
    mime, *parameters = (part.strip() for part in content_type.split(";"))
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() != "charset" or value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise RequestError(415, f"unsupported content type parameter '{parameter}'; only charset=utf-8")
    if mime == "text/csv":
        return _csv(body)
    if mime != "application/json":
        raise RequestError(415, f"content type '{mime}' is not supported", hint=_FORMAT_HINT)
    document = loads(body)
    if not isinstance(document, dict):
        raise RequestError(400, "the body must be a JSON object", hint=_FORMAT_HINT)
    present = [key for key in FORMATS if key in document]
    if len(present) != 1:
        raise RequestError(400, f"found input fields {sorted(document)}", hint=_FORMAT_HINT)
    data = document[present[0]]
    if present[0] == "dataframe_split":
        if not isinstance(data, dict) or "data" not in data:
            raise RequestError(400, "dataframe_split needs 'columns' and 'data'", hint=_FORMAT_HINT)
        return Rows.from_split(data.get("columns"), data["data"])
    if present[0] == "dataframe_records":
        return Rows.from_records(data)
    if isinstance(data, dict):  # instances / inputs as {column: [values]}
        return Rows.from_columns(data)
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return Rows.from_records(data)
    raise RequestError(
        422,
        f"{present[0]} must be a list of row objects or an object of columns (a tabular model needs names)",
        hint=_FORMAT_HINT,
    )


def _csv(body: bytes) -> Rows:
    try:
        frame = pd.read_csv(io.BytesIO(body), encoding="utf-8")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        message = f"the body is not a CSV table: {error}"
        raise RequestError(400, message, hint="send pandas' to_csv() output") from None
    return Rows.from_frame(frame)


def _render(answer: Answer) -> Response:
    return JSONBody({"predictions": answer.result.predictions})


def _error(problem: RequestError) -> Response:
    if problem.status == 415:
        return PlainTextResponse(problem.message, status_code=415)
    body = {"error_code": _ERROR_CODES.get(problem.status, "BAD_REQUEST"), **problem.document()}
    return JSONBody(body, status_code=problem.status)
