"""A web site for tests: the real container (voicemail.app.build_container) with the stand-in Asterisk,
real sealed messages made by the custody pipeline, the real MailboxServices, and the web app built by
voicemail.web.wiring, with four accounts: two owners, an administrator and an account with no role."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import fresh_pg_database
from tests.integration.mailbox.harness import MailboxSite, mailbox_site
from tests.integration.pipeline.harness import make_wav
from voicemail.domain.models import MailboxRef
from voicemail.web.app import create_app
from voicemail.web.deps import WebDeps
from voicemail.web.ratelimit import RateLimiter
from voicemail.web.wiring import build_web_deps

PASSWORD = "correct horse battery staple"
BASE = "https://testserver"
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice": {"roles": ("owner",), "mailboxes": (MailboxRef("default", "1001"),), "numbers": ("1001",)},
    "bob": {"roles": ("owner",), "mailboxes": (MailboxRef("default", "1002"),), "numbers": ("1002",)},
    "admin": {"roles": ("administrator",), "mailboxes": (), "numbers": ()},
    "nobody": {"roles": (), "mailboxes": (), "numbers": ()},
}


@dataclass
class WebSite:
    box: MailboxSite
    deps: WebDeps
    app: FastAPI

    def client(self) -> TestClient:
        return TestClient(self.app, base_url=BASE, raise_server_exceptions=False)

    def leave(self, mailbox: str = "1001@default", seconds: float = 1.0, seed: int = 1) -> tuple[str, bytes]:
        audio = make_wav(seconds, seed)
        return self.box.leave(mailbox, audio), audio

    def rebuild(self, **settings: Any) -> None:
        """The same site with other web settings (e.g. a low lockout threshold)."""
        web = dataclasses.replace(self.deps.settings, **settings)
        self.deps = dataclasses.replace(self.deps, settings=web,
                                        limiter=RateLimiter(web.signin_rate_limit, web.signin_rate_window))
        self.app = create_app(self.deps)


def csrf(client: TestClient) -> str:
    token = client.get("/api/v1/session").json()["csrf_token"]
    assert isinstance(token, str)
    return token


def sign_in(client: TestClient, username: str, password: str = PASSWORD, totp: str = "") -> str:
    """Sign in over the API; returns the session's CSRF token."""
    r = client.post("/api/v1/session", json={"username": username, "password": password, "totp": totp},
                    headers={"X-CSRF-Token": csrf(client), "Origin": BASE})
    assert r.status_code == 200, r.text
    token = r.json()["csrf_token"]
    assert isinstance(token, str)
    return token


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for a module-scoped site (the ``pg_url`` fixture is per test)."""
    with fresh_pg_database() as url:
        yield url


@contextmanager
def web_site(root: Path, database_url: str, **settings: Any) -> Iterator[WebSite]:
    """``settings``: Settings fields to override, with values of their own types (see mailbox_site)."""
    with mailbox_site(root / "site", database_url, **settings) as box:
        deps = dataclasses.replace(build_web_deps(box.container), presignin_limiter=RateLimiter(10_000, 300))
        for name, spec in ACCOUNTS.items():
            deps.accounts.add(name, roles=spec["roles"], mailboxes=spec["mailboxes"], numbers=spec["numbers"],
                              password=PASSWORD)
        yield WebSite(box, deps, create_app(deps))
