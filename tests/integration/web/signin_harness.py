"""The web app as `voicemail web` serves it (composition root + voicemail.web.tls_server's uvicorn
settings), on a real loopback socket in a thread, for the PIV and OIDC sign-in tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.engine import Engine

from voicemail.app import Container, build_container
from voicemail.audit.tables import audit_events
from voicemail.config import Settings, load_settings
from voicemail.vault import FileKeyring
from voicemail.web.accounts_store import AccountStore
from voicemail.web.server import EmbeddedServer
from voicemail.web.tls_server import uvicorn_config
from voicemail.web.wiring import build_web_app


@dataclass
class Site:
    base_url: str
    settings: Settings
    container: Container
    app: FastAPI | None = None  # the app being served (its deps: app.state.web)

    @property
    def engine(self) -> Engine:
        return self.container.engine

    @property
    def accounts(self) -> AccountStore:
        return AccountStore(self.engine)

    def audit(self, action: str = "signin") -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit_events).where(audit_events.c.action == action)
                                .order_by(audit_events.c.seq)).mappings().all()
        return [dict(r) for r in rows]

    def sessions(self) -> int:
        from voicemail.web.tables import web_sessions

        with self.engine.connect() as conn:
            return len(conn.execute(select(web_sessions.c.id_hash).where(web_sessions.c.account_id.is_not(None)))
                       .all())


def site_settings(root: Path, database_url: str, env: Mapping[str, str]) -> Settings:
    root.mkdir(parents=True, exist_ok=True)
    keyring = root / "keyring.json"
    if not keyring.exists():
        FileKeyring.create(keyring)
    base = {"VOICEMAIL_DATABASE_URL": database_url, "VOICEMAIL_VAULT_DIR": str(root / "vault"),
            "VOICEMAIL_KEYRING": str(keyring), "VOICEMAIL_SPOOL_DIR": str(root / "spool"),
            "VOICEMAIL_OUTBOX_DIR": str(root / "outbox"), "VOICEMAIL_LOG_LEVEL": "WARNING",
            "VOICEMAIL_WEB_SIGNIN_RATE_LIMIT": "1000"}  # many sign-ins from 127.0.0.1 in one test module
    return load_settings(environ={**base, **env})


def listening_socket() -> socket.socket:
    """A socket bound to 127.0.0.1:<free port> (its port is known before the app's settings are made)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serve(settings: Settings, sock: socket.socket | None = None) -> Iterator[Site]:
    """The app on 127.0.0.1 (``sock``, or a free port), https when web_tls_cert is set."""
    container = build_container(settings, on_new=lambda _message_id: None)
    sock = sock or listening_socket()
    port = sock.getsockname()[1]
    app = build_web_app(container)
    server = EmbeddedServer(uvicorn_config(app, settings, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    scheme = "https" if settings.web_tls_cert else "http"
    try:
        yield Site(f"{scheme}://127.0.0.1:{port}", settings, container, app)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        container.close()
