"""Error pages: bad input is a 4xx page with the message and a hint, never a 500 and never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse

from taxiway.errors import TaxiwayError
from taxiway.ui.state import render

log = logging.getLogger("taxiway.ui")

_TITLES = {
    400: "Bad request",
    401: "Token needed",
    404: "Not found",
    405: "Method not allowed",
    409: "Artifact changed",
    422: "Cannot be used",
    503: "Store unavailable",
    500: "Internal error",
}


def error_page(request: Request, status: int, message: str, hint: str = "") -> HTMLResponse:
    """An HTML page saying what went wrong and what to do."""
    context = {"status": status, "title": _TITLES.get(status, "Error"), "message": message, "hint": hint}
    return render(request, "error.html", context, status=status)


def install_error_pages(app: FastAPI) -> None:
    """Answer validation errors, taxiway errors and unknown routes with error pages."""

    async def invalid(request: Request, error: Exception) -> HTMLResponse:
        assert isinstance(error, RequestValidationError)
        parts = []
        for detail in error.errors():
            where = ".".join(str(part) for part in detail.get("loc", ()) if part not in ("query", "path"))
            parts.append(f"{where or 'input'} {detail.get('input')!r}: {detail.get('msg', 'invalid')}")
        return error_page(
            request, 400, "; ".join(parts), "check the address; the pages' links and forms give valid values"
        )

    async def taxiway_error(request: Request, error: Exception) -> HTMLResponse:
        assert isinstance(error, TaxiwayError)
        return error_page(request, error.http_status, error.message, error.hint)

    async def http_error(request: Request, error: Exception) -> HTMLResponse:
        assert isinstance(error, HTTPException)
        if error.status_code == 404:
            return error_page(
                request,
                404,
                f"there is no page at {request.url.path}",
                "use the navigation above: every page starts there",
            )
        return error_page(request, error.status_code, str(error.detail))

    async def crash(request: Request, error: Exception) -> HTMLResponse:
        log.exception("error while answering %s", request.url.path)
        return error_page(
            request,
            500,
            f"{type(error).__name__}: {error}",
            "this is a bug in taxiway; the server's log has the traceback",
        )

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(TaxiwayError, taxiway_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, crash)
