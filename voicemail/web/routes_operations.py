"""/metrics (Prometheus text format, for the scrape policy's clients) and /operations (administrators:
the pipeline at a glance, and each site's part when there are several). Both read the same cached
database snapshot (voicemail.observe)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from voicemail.domain.errors import NotFound
from voicemail.observe.access import PROXY_HEADERS
from voicemail.observe.observer import Observer
from voicemail.web.authz import require_administrator
from voicemail.web.operations_sites import read_leases, site_cards
from voicemail.web.operations_view import page_context
from voicemail.web.render import render
from voicemail.web.sessions import web_deps
from voicemail.web.status import run_probes

log = logging.getLogger(__name__)


def operations_router(observer: Observer) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/metrics")
    def metrics(request: Request) -> Response:
        client = request.client.host if request.client else None
        proxied = any(h in request.headers for h in PROXY_HEADERS)
        if not observer.policy.allows(client, request.headers.get("authorization"), proxied=proxied):
            raise NotFound("not found")
        return Response(generate_latest(observer.registry), media_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})

    @router.get("/operations")
    def operations(request: Request) -> Response:
        require_administrator(request, "operations.view")
        try:
            snap, took = observer.snapshots.get()
        except Exception as exc:
            log.warning("operations page: the database figures could not be read (%s)", type(exc).__name__)
            return render(request, "error.html", {"title": "Figures unavailable", "active": "operations",
                                                   "detail": "The database does not answer; /status shows which "
                                                             "part of the system is down."}, status=503)
        checks = run_probes(web_deps(request).probes)
        sites = site_cards(observer, snap, read_leases(observer.engine)) if observer.settings.sites else []
        return render(request, "operations.html", {"active": "operations",
                                                   **page_context(observer, snap, took, checks, sites)})

    return router
