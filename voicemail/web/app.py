"""The web application: ``create_app(deps)`` builds the FastAPI app (pages, /api/v1, /healthz, /status,
OpenAPI at /openapi.json) from typed collaborators; voicemail.web.wiring builds those from Settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from voicemail import __version__
from voicemail.web import errors, routes_api, routes_audit, routes_investigation, routes_pages, status
from voicemail.web.deps import WebDeps
from voicemail.web.render import HERE

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def create_app(deps: WebDeps) -> FastAPI:
    app = FastAPI(title="Voicemail", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json",
                  description="Web inbox and REST API. Every /api/v1 path but /session needs a session cookie; "
                              "state-changing requests need the X-CSRF-Token header (GET /api/v1/session).")
    app.state.web = deps
    errors.install(app)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if not request.url.path.startswith("/static/"):
            h.setdefault("Cache-Control", "no-store")
        if request.url.scheme == "https":
            h.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    app.include_router(status.router)
    app.include_router(routes_api.router)
    app.include_router(routes_pages.router)
    app.include_router(routes_audit.router)  # auditor, investigator, cleared administrator pages
    app.include_router(routes_investigation.router)
    for router in deps.extra_routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app
