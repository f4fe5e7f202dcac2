"""/metrics (Prometheus text format, for the scrape policy's clients) and /operations (administrators:
the pipeline at a glance). Both read the same cached database snapshot (voicemail.observe)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from voicemail.domain.errors import NotFound
from voicemail.observe.charts import bar_chart, seconds_text
from voicemail.observe.observer import Observer
from voicemail.observe.snapshot import Snapshot
from voicemail.web.authz import require_administrator
from voicemail.web.render import render
from voicemail.web.sessions import web_deps
from voicemail.web.status import run_probes


def operations_router(observer: Observer) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/metrics")
    def metrics(request: Request) -> Response:
        client = request.client.host if request.client else None
        if not observer.policy.allows(client, request.headers.get("authorization")):
            raise NotFound("not found")
        return Response(generate_latest(observer.registry), media_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})

    @router.get("/operations")
    def operations(request: Request) -> Response:
        require_administrator(request)
        snap, took = observer.snapshots.get()
        checks = run_probes(web_deps(request).probes)
        return render(request, "operations.html", {"active": "operations",
                                                   **page_context(observer, snap, took, checks)})

    return router


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return "just now" if seconds < 1 else f"{seconds_text(round(seconds))} ago"


def page_context(observer: Observer, snap: Snapshot, took: float, checks: dict[str, dict[str, Any]]
                 ) -> dict[str, Any]:
    hours = observer.last_day()
    labels = [h.start.strftime("%H:%M") for h in hours]
    runtime = observer.runtime
    ami = checks.get("ami", {"ok": False, "detail": "not checked"})
    reconciled: str
    if runtime is None:
        reconciled = "not known here: the listener runs in another process (`voicemail run`)"
    else:
        last = runtime.last_reconciled_at()
        reconciled = _ago(None if last is None else max(0.0, snap.taken_at.timestamp() - last))
        ami = {"ok": runtime.ami_connected(),
               "detail": f"{'connected' if runtime.ami_connected() else 'disconnected'}; "
                         f"{max(0, runtime.ami_connects() - 1)} reconnect(s) since start"}
    quota = observer.settings.quota_site_bytes
    depth = observer.broker.get()
    open_letters = sum(snap.dead_letters_open.values())
    return {
        "snap": snap, "took_ms": round(took * 1000, 1), "checks": checks, "ami": ami, "reconciled": reconciled,
        "broker_depth": depth.messages,
        "custody_oldest": seconds_text(round(snap.oldest_custody_seconds)) if snap.custody_pending else "",
        "notify_oldest": seconds_text(round(snap.oldest_notify_seconds)) if snap.notify_pending else "",
        "open_letters": open_letters,
        "vault": _bytes(snap.vault_bytes), "quota": _bytes(quota) if quota else "",
        "quota_pct": round(100 * snap.vault_bytes / quota, 1) if quota else None,
        "checkpoint": _ago(snap.checkpoint_age),
        "checkpoint_late": snap.checkpoint_age is not None and observer.settings.checkpoint_interval > 0
        and snap.checkpoint_age > 2 * observer.settings.checkpoint_interval,
        "hours": hours, "generated": snap.taken_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "per_hour": bar_chart([[h.messages for h in hours]], labels),
        "latency": bar_chart([[h.p95 for h in hours], [h.p50 for h in hours]], labels, unit="s"),
        "seconds_text": seconds_text,
    }


def _bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
