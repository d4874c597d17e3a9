"""The prediction routes answered straight from ASGI, ahead of FastAPI's per-request machinery.

FastAPI resolves dependencies, parses query strings and walks four middleware layers for every request;
at concurrency 32 that was most of the event loop's time (py-spy, one worker: the model thread was idle
half the time, waiting for the loop). The hot ``POST`` routes are matched here first and call the very
handlers the FastAPI routes call, so ``/docs`` and the OpenAPI document still describe them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[..., Awaitable[Response]]  # (request, **path parameters) -> response
_log = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class DirectRoute:
    """A ``POST`` path pattern (named groups become keyword arguments) and its handler."""

    pattern: re.Pattern[str]
    handler: Handler


class DirectRoutes:
    """ASGI middleware: answer the routes it knows, hand everything else to the app.

    Example:
        >>> import asyncio
        >>> async def hello(request: Request, name: str) -> Response:
        ...     return Response(f"hello {name}")
        >>> async def fallback(scope: Scope, receive: Receive, send: Send) -> None: ...
        >>> app = DirectRoutes(fallback, routes=[DirectRoute(re.compile(r"/hi/(?P<name>\\w+)"), hello)])
        >>> sent = []
        >>> async def receive() -> dict: return {"type": "http.request", "body": b""}
        >>> async def send(message: dict) -> None: sent.append(message)
        >>> scope = {"type": "http", "method": "POST", "path": "/hi/ana", "headers": []}
        >>> asyncio.run(app(scope, receive, send)); sent[-1]["body"]
        b'hello ana'
    """

    def __init__(self, app: ASGIApp, routes: list[DirectRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            for route in self.routes:
                matched = route.pattern.fullmatch(path)
                if matched is not None:
                    await _answer(route, matched.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _answer(
    route: DirectRoute, parameters: dict[str, str], scope: Scope, receive: Receive, send: Send
) -> None:
    try:
        response = await route.handler(Request(scope, receive), **parameters)
    except Exception:  # noqa: BLE001 - a bug, never bad input (a 4xx inside the handler): 500 + traceback
        _log.exception("taxiway serve: internal error answering %s", scope["path"])
        response = Response(b'{"message": "internal error"}', status_code=500, media_type="application/json")
    await response(scope, receive, send)
