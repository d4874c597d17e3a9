"""The FastAPI application of `taxiway serve`: the native protocol, health, metrics, feedback and docs.

The MLflow scoring protocol and the Open Inference Protocol add their routes from
:mod:`taxiway.serve.protocols`; all of them answer through :class:`PredictionService`.
Bad input is answered with a 4xx whose body names what is wrong and how to fix it:
``{"error": ..., "hint": ..., "detail": [...]}``; an unexpected failure is a 500 with the same shape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from taxiway import __version__
from taxiway.errors import TaxiwayError
from taxiway.serve.access import Access, RateLimiter, RequestIds, project_key
from taxiway.serve.feedback import (
    FEEDBACK_BURST,
    FEEDBACK_MAX_BYTES,
    FEEDBACK_RATE,
    UnsupportedMediaType,
    check_known,
    feedback_items,
    record_feedback,
)
from taxiway.serve.protocols import mlflow, oip
from taxiway.serve.request import BadRequest, read_json
from taxiway.serve.responses import (
    SLOT_HEADER,
    VERSION_HEADER,
    answered_by,
    error_response,
    json_response,
    service_of,
)
from taxiway.serve.service import InvalidRows, Prediction, PredictionService

_log = logging.getLogger("taxiway.serve")
_WIDEST_SCANNED = 4096

__all__ = ["create_app"]


def create_app(make_service: Callable[[], PredictionService], *, access: Access | None = None) -> FastAPI:
    """The service's ASGI app; ``make_service`` runs at start-up, in the worker process that serves.

    ``access``: the tokens predicting and feedback need (None: open, for a loopback address).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = make_service()
        ids = RequestIds(project_key(service.root))
        service.new_request_id, service.remember_request_id = ids.new, ids.remember
        app.state.request_ids = ids
        app.state.feedback_limiter = RateLimiter(rate=FEEDBACK_RATE, burst=FEEDBACK_BURST)
        service.start()
        app.state.service = service
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="taxiway prediction service",
        version=__version__,
        lifespan=lifespan,
        description="Predictions from the deployed model version, with per-row fallback. "
        "Native: POST /predict. MLflow: POST /invocations. Open Inference Protocol: /v2.",
    )
    _add_error_handlers(app)
    _add_native_routes(app)
    mlflow.add_routes(app)
    oip.add_routes(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return Telemetered(app, access or Access())  # type: ignore[return-value]


def _add_native_routes(app: FastAPI) -> None:
    @app.post("/predict", summary="Predict one row or many", openapi_extra={"x-taxiway-body": "native"})
    async def predict(request: Request) -> Response:
        service = service_of(request)
        body = await read_json(request, service.limits.max_body_bytes)
        rows, key = _native_rows(body)
        prediction = await service.predict(rows, key=key, request_id=request.headers.get("x-request-id"))
        return json_response(_native_answer(prediction), headers=answered_by(prediction))

    @app.get("/health", summary="Ready when a live model is loaded")
    async def health(request: Request) -> Response:
        service = service_of(request)
        lineup = service.lineup
        refused = service.reconciler.error
        idle = "refused the deployed model" if refused else "no model deployed"
        body = {
            "status": "ready" if lineup.live is not None else idle,
            "generation": lineup.generation,
            "slots": lineup.slots(),
            "replica": service.replica.id,
            "error": service.reconciler.error,
        }
        return json_response(body, status=200 if lineup.live is not None else 503)

    @app.get("/metrics", summary="Prometheus metrics of every worker")
    async def metrics(request: Request) -> Response:
        payload, content_type = service_of(request).telemetry.metrics_payload()
        return Response(payload, media_type=content_type)

    @app.post("/feedback", summary="Ground-truth labels for earlier predictions, by request id")
    async def feedback(request: Request) -> Response:
        service = service_of(request)
        client = request.client.host if request.client else "unknown"
        request.app.state.feedback_limiter.check(client)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":  # a web page cannot send JSON cross-site without asking first
            raise UnsupportedMediaType(
                f"feedback must be sent as application/json, not {media_type or 'no content type'}",
                hint="send the header Content-Type: application/json",
            )
        items = feedback_items(
            await read_json(request, min(FEEDBACK_MAX_BYTES, service.limits.max_body_bytes))
        )
        check_known(items, request.app.state.request_ids.known)
        accepted = record_feedback(service.store, items, replica_id=service.replica.id)
        return json_response({"accepted": accepted})


def _native_rows(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of ``{"rows": [{...}, ...]}`` or ``{"row": {...}}``, and the optional canary ``key``."""
    hint = 'send {"rows": [{"column": value, ...}, ...]} or {"row": {...}}; GET /docs shows the columns'
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", hint=hint)
    unknown = sorted(set(body) - {"rows", "row", "key"})
    if unknown:
        raise BadRequest(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} in the body", hint=hint
        )
    if ("rows" in body) == ("row" in body):
        raise BadRequest('the body needs exactly one of "rows" or "row"', hint=hint)
    rows = body["rows"] if "rows" in body else [body["row"]]
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise BadRequest('"rows" must be a list of objects, "row" an object', hint=hint)
    key = body.get("key")
    if key is not None and not isinstance(key, str | int):
        raise BadRequest('"key" must be text or a number (it keeps a caller on the same canary)', hint=hint)
    for position, row in enumerate(rows):
        if len(row) > _WIDEST_SCANNED:  # the service's guard refuses it by its size, unread
            continue
        for name, value in row.items():
            if isinstance(value, dict | list):
                raise InvalidRows(
                    [[]] * position + [[_nested(name, value)]] + [[]] * (len(rows) - position - 1)
                )
    return rows, None if key is None else str(key)


def _nested(name: str, value: Any) -> Any:
    from taxiway.data.schema_check import FieldProblem

    kind = "an object" if isinstance(value, dict) else "a list"
    return FieldProblem(name, "wrong_type", f"{name}: is {kind}; a field holds one value")


def _native_answer(prediction: Prediction) -> dict[str, Any]:
    answer, route = prediction.answer, prediction.route
    body: dict[str, Any] = {
        "request_id": prediction.request_id,
        "model": {"version": route.model.name, "role": route.role, "slot": route.slot},
        "predictions": answer.predictions,
        "confidence": answer.confidence,
        "fallback": [
            {"used": False}
            if reason is None
            else {"used": True, "reason": reason, "answered_by": route.model.fallback.kind}
            for reason in answer.fallback
        ],
    }
    if answer.probabilities is not None:
        body["classes"] = route.model.classes
        body["probabilities"] = answer.probabilities
    return body


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TaxiwayError)
    async def refused(request: Request, error: TaxiwayError) -> Response:
        # Every error users read answers with its class's status (taxiway/errors.py), as on the dashboard.
        if isinstance(error, InvalidRows):  # the first problems, and how many there are in all
            body = {
                "error": error.message,
                "hint": error.hint,
                "detail": error.detail(),
                "problems": error.problem_count,
                "refused_rows": error.refused_rows,
            }
            return json_response(body, status=error.http_status)
        return error_response(error.http_status, error.message, error.hint)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        detail = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in error.errors()]
        return error_response(422, "the request does not match its schema", "GET /docs shows it", detail)

    @app.exception_handler(StarletteHTTPException)
    async def http(request: Request, error: StarletteHTTPException) -> Response:
        hint = "GET /docs lists the routes" if error.status_code in (404, 405) else ""
        return error_response(error.status_code, str(error.detail), hint)

    @app.exception_handler(Exception)
    async def crash(request: Request, error: Exception) -> Response:
        _log.exception("internal error answering %s %s", request.method, request.url.path)
        return error_response(500, f"internal error: {type(error).__name__}", "this is a bug in taxiway")


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with the native request body derived from the live model's input schema."""
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    service: PredictionService | None = getattr(app.state, "service", None)
    live = service.lineup.live if service is not None else None
    row: dict[str, Any] = live.contract.row_schema() if live is not None else {"type": "object"}
    body = {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "rows": {"type": "array", "items": row, "minItems": 1},
                    "key": {"type": "string"},
                },
                "required": ["rows"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"row": row, "key": {"type": "string"}},
                "required": ["row"],
                "additionalProperties": False,
            },
        ]
    }
    operation = document["paths"]["/predict"]["post"]
    operation.pop("x-taxiway-body", None)
    operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return document


class Telemetered:
    """ASGI wrapper: times every HTTP request and counts it by route, status, version and slot.

    A plain ASGI layer (not Starlette's BaseHTTPMiddleware, which costs a task per request): it only
    watches the response start message for the status and the headers naming the answering version.
    """

    _ROUTES = frozenset(["/predict", "/invocations", "/feedback", "/health", "/ping", "/version", "/metrics"])

    def __init__(self, app: FastAPI, access: Access) -> None:
        self.app, self.access = app, access

    def __getattr__(self, name: str) -> Any:  # tests and uvicorn reach the FastAPI app through us
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": 500, "version": None, "slot": None}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                for name, value in message.get("headers", ()):
                    if name == VERSION_HEADER.encode():
                        seen["version"] = value.decode()
                    elif name == SLOT_HEADER.encode():
                        seen["slot"] = value.decode()
            await send(message)

        telemetry = getattr(getattr(self.app.state, "service", None), "telemetry", None)
        kind = _needs_token(scope["path"])
        try:
            if kind is not None and not self.access.allows(kind, _header(scope, b"authorization")):
                try:
                    self.access.check(kind, None)
                except TaxiwayError as refused:  # 401 before the body is read: nothing else is spent
                    response = error_response(refused.http_status, refused.message, refused.hint)
                    response.headers["www-authenticate"] = "Bearer"
                    await response(scope, receive, watch)
                    return
            await self.app(scope, receive, watch)
        finally:
            if telemetry is not None:
                telemetry.request_done(
                    _route(scope["path"]),
                    seen["status"],
                    time.perf_counter() - started,
                    seen["version"],
                    seen["slot"],
                )


def _needs_token(path: str) -> str | None:
    """Which token a path needs: feedback writes, the prediction routes of every protocol predict."""
    if path == "/feedback":
        return "feedback"
    if path in ("/predict", "/invocations") or (path.startswith("/v2/models/") and path.endswith("/infer")):
        return "predict"
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


def _route(path: str) -> str:
    if path in Telemetered._ROUTES:
        return path
    if path.startswith("/v2"):
        return "/v2/models/{model}/infer" if path.endswith("/infer") else "/v2"
    return "other"


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
