"""``POST /feedback``: ground-truth labels for answered requests, by request id, for online quality.

Body: ``{"request_id": "9f1c…", "labels": [1, 0]}`` (one label per row of that request, in order) or
``{"request_id": "9f1c…", "label": 1}`` for a one-row request. Answered 202: labels are appended to the
feedback log (Parquet in the artifact store) and joined to the prediction log by request id and row.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from taxiway.serve.prediction_log import FeedbackLog
from taxiway.serve.problems import RequestError
from taxiway.serve.protocols._json import JSONBody, loads
from taxiway.serve.service import Service, read_body

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def add_routes(app: FastAPI, service: Service, log: FeedbackLog) -> None:
    """Add ``POST /feedback`` to ``app``."""

    @app.post(
        "/feedback", tags=["feedback"], summary="Send the true labels of answered rows", status_code=202
    )
    async def feedback(request: Request) -> Response:
        """Record the labels of an answered request's rows, by its request id (``x-request-id``)."""
        try:
            document = loads(await read_body(request, service.settings.max_body_bytes))
            request_id, labels = _parse(document, service.settings.max_rows)
        except RequestError as problem:
            return JSONBody(problem.document(), status_code=problem.status)
        log.record(request_id, labels)
        service.metrics.requests.labels("feedback", "202", service.slots.live.version, "-").inc()
        return JSONBody({"request_id": request_id, "accepted": len(labels)}, status_code=202)


def _parse(document: object, max_rows: int) -> tuple[str, list[object]]:
    if not isinstance(document, dict):
        raise RequestError(422, "expected a JSON object with 'request_id' and 'labels' (or 'label')")
    request_id = document.get("request_id")
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise RequestError(
            422, "'request_id' must be the x-request-id of an answer (1-64 letters, digits, ._:-)"
        )
    extra = sorted(set(document) - {"request_id", "labels", "label"})
    if extra or ("labels" in document) == ("label" in document):
        raise RequestError(
            422, "give exactly one of 'labels' (a list, one per row) or 'label', and nothing else"
        )
    labels = document["labels"] if "labels" in document else [document["label"]]
    if not isinstance(labels, list) or not labels or len(labels) > max_rows:
        raise RequestError(422, f"'labels' must be a list of 1 to {max_rows:,} labels")
    if any(isinstance(label, dict | list) for label in labels):
        raise RequestError(422, "each label is a single value (a class or a number)")
    return request_id, labels
