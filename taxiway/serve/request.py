"""Reading a request body: within the size limit, as JSON, with a clear answer when it is neither."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import Request
from starlette.requests import ClientDisconnect

from taxiway.serve.service import RequestRefused, RequestTimedOut, RequestTooLarge

__all__ = ["BadRequest", "loads_lenient", "read_body", "read_json"]


class BadRequest(RequestRefused):
    """A body taxiway cannot read (not JSON, not the protocol's shape): 400."""

    http_status = 400


async def read_body(request: Request, limit: int) -> bytes:
    """The body's bytes; 413 as soon as it passes ``limit`` (a declared length is checked first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit)
            chunks.append(chunk)
    except ClientDisconnect:  # the client left, or was cut off for sending too slowly: no one to answer
        raise RequestTimedOut(
            "the client disconnected before its body arrived", hint="send the whole body at once"
        ) from None
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The body parsed as JSON (see :func:`loads_lenient`); 400 naming the first syntax error."""
    return loads_lenient(await read_body(request, limit))


def loads_lenient(body: bytes) -> Any:
    """The body as JSON, also with the ``NaN``/``Infinity`` tokens Python's :mod:`json` writes.

    MLflow's own client sends ``NaN`` for every missing value of a DataFrame (``json.dumps`` writes it), and
    so does any Python client: refusing them as "not JSON" would hide the real answer (NaN where the schema
    forbids it is a 422 naming the field). orjson reads everything else, fast.

    Raises:
        BadRequest: the body is empty or not JSON (400).

    Example:
        >>> loads_lenient(b'{"x": [1, NaN]}')
        {'x': [1, nan]}
        >>> try:
        ...     loads_lenient(b'{"x": ]')
        ... except BadRequest as error:
        ...     print(error.http_status, error.message[:26])
        400 the body is not valid JSON
    """
    if not body.strip():
        raise BadRequest("the body is empty", hint="send a JSON document; GET /docs shows its shape")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as strict:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise BadRequest(f"the body is not valid JSON: {strict}", hint="check the JSON syntax") from None


def _too_large(size: int, limit: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"the body is {size:,} bytes; this server takes at most {limit:,}",
        hint="send fewer rows per request, or start the server with a larger --max-body-mb",
    )
