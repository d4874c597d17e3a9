"""How the service answers: JSON bodies, the one error shape, and headers naming who answered.

Every protocol's routes reach the process's :class:`PredictionService` through :func:`service_of`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from taxiway.serve.service import Prediction, PredictionService

VERSION_HEADER = "x-taxiway-version"
SLOT_HEADER = "x-taxiway-slot"

__all__ = ["SLOT_HEADER", "VERSION_HEADER", "answered_by", "error_response", "json_response", "service_of"]


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer written by orjson (NaN becomes null), without FastAPI's deprecated ORJSONResponse.

    Example:
        >>> json_response({"predictions": [float("nan"), 1]}, status=201).body
        b'{"predictions":[null,1]}'
    """
    content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(content, status_code=status, headers=headers, media_type="application/json")


def error_response(status: int, message: str, hint: str = "", detail: Any = None) -> Response:
    """The one shape of every error taxiway's server answers: ``{"error", "hint", "detail"?}``.

    Example:
        >>> error_response(404, "no such run", "list them: GET /runs").body
        b'{"error":"no such run","hint":"list them: GET /runs"}'
    """
    body: dict[str, Any] = {"error": message, "hint": hint}
    if detail is not None:
        body["detail"] = detail
    return json_response(body, status=status)


def answered_by(prediction: Prediction) -> dict[str, str]:
    """Headers naming the version and slot that answered, and the request id."""
    route = prediction.route
    return {VERSION_HEADER: route.model.name, SLOT_HEADER: route.slot, "x-request-id": prediction.request_id}


def service_of(request: Request) -> PredictionService:
    """The prediction service of the process answering ``request``."""
    return request.app.state.service  # type: ignore[no-any-return]
