"""taxiway's own protocol: ``POST /predict`` with ``{"rows": [...]}``, answered row by row with who answered.

Example answer::

    {"request_id": "9f1c…", "model_version": "v3", "slot": "blue",
     "predictions": [{"prediction": 1, "confidence": 0.93, "probabilities": {"0": 0.07, "1": 0.93},
                      "fallback": null},
                     {"prediction": 0, "confidence": 0.41, "probabilities": {"0": 0.8, "1": 0.2},
                      "fallback": {"reason": "low_confidence", "answered_by": "linear"}}]}
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from taxiway.serve.direct import DirectRoute
from taxiway.serve.inputs import Rows
from taxiway.serve.problems import RequestError
from taxiway.serve.protocols._json import JSONBody, loads
from taxiway.serve.service import Answer, Service


def add_routes(app: FastAPI, service: Service) -> list[DirectRoute]:
    """Add ``POST /predict`` to ``app``; return it for :class:`~taxiway.serve.direct.DirectRoutes`."""

    @app.post("/predict", tags=["predict"], summary="Predict one row or many", response_class=JSONBody)
    async def predict(request: Request) -> Response:
        """Answer every row with the live model (or the canary), or the fallback where the model is doubtful.

        The body is ``{"rows": [{column: value, ...}, ...]}``; its fields are listed in the schema below.
        Each answer names the model version and slot, and per row whether a fallback answered and why.
        A wrong type, a missing or unknown column is a 422 with one message per row and field.
        """
        return await service.handle(request, "predict", _parse, render, _error)

    return [DirectRoute(re.compile("/predict"), predict)]


async def _parse(request: Request, body: bytes) -> Rows:
    document = loads(body)
    if not isinstance(document, dict) or "rows" not in document:
        raise RequestError(
            422, "expected a JSON object with a 'rows' list", hint='send {"rows": [{"column": value, ...}]}'
        )
    unknown = sorted(set(document) - {"rows"})
    if unknown:
        raise RequestError(422, f"unknown key(s) {', '.join(unknown)}; the body holds only 'rows'")
    return Rows.from_records(document["rows"])


def render(answer: Answer) -> Response:
    """The native answer document (also what ``taxiway predict`` writes per row)."""
    return JSONBody(
        {
            "request_id": answer.request_id,
            "model_version": answer.version,
            "slot": answer.slot.name,
            "predictions": rows_of(answer),
        }
    )


def rows_of(answer: Answer) -> list[dict[str, Any]]:
    result = answer.result
    classes = answer.slot.model.classes
    labels = [str(label) for label in classes.tolist()] if classes is not None else None
    probabilities = result.probabilities.tolist() if result.probabilities is not None else None
    rows: list[dict[str, Any]] = []
    for index, prediction in enumerate(result.predictions):
        row: dict[str, Any] = {"prediction": prediction}
        if labels is not None and probabilities is not None:
            shares = probabilities[index]
            answered = shares[0] == shares[0]  # NaN when the row abstained
            row["confidence"] = max(shares) if answered else None  # the answer's, model's or fallback's
            row["probabilities"] = dict(zip(labels, shares, strict=True)) if answered else None
        reason = result.reasons[index]
        row["fallback"] = (
            None if reason is None else {"reason": reason, "answered_by": result.answered_by[index]}
        )
        rows.append(row)
    return rows


def _error(problem: RequestError) -> Response:
    return JSONBody(problem.document(), status_code=problem.status)
