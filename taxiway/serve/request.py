"""Reading a request body: within the size limit, as JSON, with a clear answer when it is neither."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from taxiway.serve.service import RequestRefused, RequestTooLarge

__all__ = ["BadRequest", "read_body", "read_json"]


class BadRequest(RequestRefused):
    """A body taxiway cannot read (not JSON, not the protocol's shape): 400."""

    status = 400


async def read_body(request: Request, limit: int) -> bytes:
    """The body's bytes; 413 as soon as it passes ``limit`` (a declared length is checked first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The body parsed as JSON; 400 naming the position of the first syntax error."""
    body = await read_body(request, limit)
    if not body:
        raise BadRequest("the body is empty", hint="send a JSON document; GET /docs shows its shape")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"the body is not valid JSON: {error}", hint="check the JSON syntax") from None


def _too_large(size: int, limit: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"the body is {size:,} bytes; this server takes at most {limit:,}",
        hint="send fewer rows per request, or start the server with a larger --max-body-mb",
    )
