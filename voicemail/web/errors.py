"""The one place domain errors become HTTP answers. No stack trace or internal detail ever leaves.

NotFound / AccessDenied / HeldError -> 404 (a denied request never reveals that the thing exists, nor a
legal hold), InvalidInput -> 400 (request validation -> 422), RangeNotSatisfiable -> 416 with
``Content-Range: bytes */total``, Conflict -> 409 (FeatureUnavailable with its own words),
TransientError -> 503, anything else -> 500.
API paths (and /healthz, /status) answer JSON; pages answer an HTML error page.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from voicemail.audit.errors import AccessDenied, HeldError
from voicemail.domain.errors import (
    Conflict,
    FeatureUnavailable,
    InvalidInput,
    NotFound,
    RangeNotSatisfiable,
    TransientError,
    VoicemailError,
)
from voicemail.web.csrf import CsrfRefused
from voicemail.web.next_url import signin_url
from voicemail.web.sessions import SignInRequired, TooManyRequests

log = logging.getLogger(__name__)

_TITLES = {400: "Bad request", 401: "Sign-in required", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 416: "Range not satisfiable", 422: "Invalid request",
           429: "Too many requests", 500: "Internal error", 503: "Service unavailable"}


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path in ("/healthz", "/status", "/openapi.json")


def error_response(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    headers = {"Cache-Control": "no-store", **(headers or {})}
    if wants_json(request):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    from voicemail.web.render import render

    return render(request, "error.html", {"status": status, "title": _TITLES.get(status, "Error"),
                                          "detail": detail}, status=status, headers=headers)


def _status_for(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, NotFound | AccessDenied | HeldError):
        return 404, "not found"
    if isinstance(exc, RangeNotSatisfiable):
        return 416, "range not satisfiable"
    if isinstance(exc, InvalidInput):
        return 400, str(exc)[:200] or "invalid input"
    if isinstance(exc, FeatureUnavailable):
        return 409, str(exc)[:200]
    if isinstance(exc, Conflict):
        return 409, "the message cannot be changed right now; try again shortly"
    if isinstance(exc, TransientError):
        return 503, "a service this needs is unavailable; try again shortly"
    return 500, "internal error"


def install(app: FastAPI) -> None:
    async def domain_error(request: Request, exc: Exception) -> Response:
        status, detail = _status_for(exc)
        headers: dict[str, str] = {}
        if status == 416:
            total = getattr(exc, "total", None)
            headers["Content-Range"] = f"bytes */{total}" if isinstance(total, int) else "bytes */*"
        elif status == 503:
            headers["Retry-After"] = "5"
        elif status == 500:
            log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return error_response(request, status, detail, headers)

    async def signin_required(request: Request, exc: Exception) -> Response:
        if wants_json(request):
            return error_response(request, 401, "sign-in required")
        target = signin_url(request.url.path, request.url.query) if request.method == "GET" else "/signin"
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return error_response(request, 403, "request refused (CSRF check failed); reload the page and try again")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code < 500 else "error"
        return error_response(request, exc.status_code, detail, dict(exc.headers or {}))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = sorted({".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
                         for e in exc.errors()})
        return error_response(request, 422, "invalid " + (", ".join(f for f in fields if f)[:200] or "request"))

    async def too_many(request: Request, exc: Exception) -> Response:
        return error_response(request, 429, str(exc)[:200], {"Retry-After": "60"})

    app.add_exception_handler(SignInRequired, signin_required)
    app.add_exception_handler(TooManyRequests, too_many)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(VoicemailError, domain_error)
    app.add_exception_handler(Exception, domain_error)  # last resort: generic 500, details only in the log
