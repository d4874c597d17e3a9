"""The optional token: when `taxiway ui` listens beyond this machine, every page asks for it.

The token arrives once as ``?token=…`` (the address `taxiway ui` prints); the answer sets an HTTP-only
cookie and redirects to the same address without it, so the token does not stay in the address bar or
the browser history. Tokens are compared in constant time.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from taxiway.ui.state import render

COOKIE = "taxiway_token"
QUERY = "token"
OPEN_PREFIXES = ("/static/",)  # stylesheets and scripts: no project data in them


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison of two tokens (any text).

    Example:
        >>> same_token("s3cret", "s3cret"), same_token("s3cre", "s3cret"), same_token("é", "e")
        (True, False, False)
    """
    return secrets.compare_digest(given.encode(), expected.encode())


def install_token(app: FastAPI, token: str) -> None:
    """Require ``token`` (query parameter once, then the cookie) on every page."""

    @app.middleware("http")
    async def require_token(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path.startswith(OPEN_PREFIXES):
            return await call_next(request)
        given = request.query_params.get(QUERY)
        if given is not None and same_token(given, token):
            rest = [(key, value) for key, value in request.query_params.multi_items() if key != QUERY]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and same_token(cookie, token):
            return await call_next(request)
        wrong = given is not None
        message = (
            "the token given is wrong"
            if wrong
            else "this dashboard asks for the token `taxiway ui` was given"
        )
        return render(request, "token.html", {"message": message, "path": request.url.path}, status=401)
