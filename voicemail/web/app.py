"""The web application: ``create_app(deps)`` builds the FastAPI app (pages, /api/v1, /healthz, /status,
OpenAPI at /openapi.json) from typed collaborators; voicemail.web.wiring builds those from Settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from voicemail import __version__
from voicemail.web import (
    errors,
    routes_account,
    routes_api,
    routes_audit,
    routes_bulk,
    routes_forward,
    routes_investigation,
    routes_pages,
    status,
)
from voicemail.web.deps import WebDeps
from voicemail.web.http_guards import RequestGuard, security_headers
from voicemail.web.render import HERE


def create_app(deps: WebDeps) -> FastAPI:
    app = FastAPI(title="Voicemail", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", redirect_slashes=False,  # RequestGuard redirects, relatively
                  description="Web inbox and REST API. Every /api/v1 path but /session needs a session cookie; "
                              "state-changing requests need the X-CSRF-Token header (GET /api/v1/session).")
    app.state.web = deps
    errors.install(app)

    @app.middleware("http")
    async def add_security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        security_headers(response.headers, request.url.path, request.url.scheme)
        return response

    app.add_middleware(RequestGuard, max_body_bytes=deps.settings.max_body_bytes)  # outermost: before any read

    app.include_router(status.router)
    app.include_router(routes_api.router)
    app.include_router(routes_bulk.router)
    app.include_router(routes_account.router)
    app.include_router(routes_forward.router)
    app.include_router(routes_pages.router)
    app.include_router(routes_audit.router)  # auditor, investigator, cleared administrator pages
    app.include_router(routes_investigation.router)
    for router in deps.extra_routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app
