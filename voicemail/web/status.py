"""/healthz (liveness, no data) and /status (administrators only: AMI, broker, database, vault).

Each probe is small, bounded by a short timeout, returns (ok, detail) and never raises; details are
fixed words, never connection strings or secrets."""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.engine import Engine

from voicemail.web.authz import require_administrator
from voicemail.web.deps import Probe
from voicemail.web.sessions import web_deps

router = APIRouter(tags=["status"])
PROBE_TIMEOUT = 3.0


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/status")
def status(request: Request) -> dict[str, Any]:
    require_administrator(request, "status.view")
    results = run_probes(web_deps(request).probes)
    return {"ok": all(r["ok"] for r in results.values()), "checks": results}


def run_probes(probes: dict[str, Probe] | Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not probes:
        return out
    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        futures = {name: pool.submit(_safe, probe) for name, probe in probes.items()}
        for name, future in futures.items():
            try:
                ok, detail = future.result(timeout=PROBE_TIMEOUT + 1)
            except FutureTimeout:
                ok, detail = False, "timed out"
            out[name] = {"ok": ok, "detail": detail}
    return out


def _safe(probe: Probe) -> tuple[bool, str]:
    try:
        return probe()
    except Exception as exc:
        return False, type(exc).__name__


# --- probes --------------------------------------------------------------------------------------
def database_probe(engine: Engine) -> Probe:
    def probe() -> tuple[bool, str]:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True, engine.dialect.name
    return probe


def vault_probe(vault_dir: str, current_kek: Callable[[], str]) -> Probe:
    """The vault folder is there and the keyring answers with its current key id."""
    def probe() -> tuple[bool, str]:
        if not current_kek():
            return False, "keyring has no current key"
        folder = Path(vault_dir)
        if folder.is_dir():
            return (True, "vault folder and keyring usable") if os.access(folder, os.W_OK | os.X_OK) \
                else (False, "vault folder not writable")
        parent = folder.parent
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return True, "keyring usable; vault folder made at the first seal"
        return False, "vault folder missing"
    return probe


def broker_probe(broker_url: str) -> Probe:
    def probe() -> tuple[bool, str]:
        if not broker_url or broker_url.startswith("memory://"):
            return True, "embedded"
        if broker_url.startswith(("redis://", "rediss://")):
            import redis

            client = redis.Redis.from_url(broker_url, socket_timeout=PROBE_TIMEOUT,
                                          socket_connect_timeout=PROBE_TIMEOUT)
            try:
                return (True, "reachable") if client.ping() else (False, "no answer")
            finally:
                client.close()
        parts = urlsplit(broker_url)  # amqp(s)://: the port answers
        with socket.create_connection((parts.hostname or "localhost", parts.port or 5672), timeout=PROBE_TIMEOUT):
            return True, "reachable"
    return probe


def ami_banner_probe(host: str, port: int, tls: ssl.SSLContext | None = None) -> Probe:
    """For `voicemail web` alone: Asterisk answers a TCP connection with its "Asterisk Call Manager" banner."""
    def probe() -> tuple[bool, str]:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT) as raw:
            sock = tls.wrap_socket(raw, server_hostname=host) if tls else raw
            sock.settimeout(PROBE_TIMEOUT)
            banner = sock.recv(64)
        if banner.startswith(b"Asterisk Call Manager"):
            return True, "answering"
        return False, "unexpected banner"
    return probe


def ami_connected_probe(connected: Callable[[], bool]) -> Probe:
    """For `voicemail run`: the listener's own AMI connection."""
    def probe() -> tuple[bool, str]:
        return (True, "connected") if connected() else (False, "disconnected")
    return probe
