"""Holes found by attacking the web app: non-ASCII one-time codes, error answers without the security
headers, directory time zones, CSRF tokens across sessions, unbounded bodies, trailing line feeds in
ids, Host-built redirects, sign-in throttling without Retry-After. Each test sets up its own state."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.web.web_harness import BASE, PASSWORD, WebSite, csrf, sign_in, web_site
from voicemail.web.app import create_app
from voicemail.web.auth import totp
from voicemail.web.http_guards import without_trailing_slash
from voicemail.web.sessions import PRESIGNIN_COOKIE

SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy",
                    "cache-control")


@pytest.fixture(scope="module")
def base_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("hardening")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}") as s:
        yield s


@pytest.fixture
def site(base_site: WebSite) -> WebSite:
    base_site.rebuild(signin_rate_limit=1000, lockout_threshold=5)  # a fresh rate window per test
    return base_site


def post_signin(client: TestClient, username: str, password: str, code: str = "") -> Any:
    return client.post("/api/v1/session", json={"username": username, "password": password, "totp": code},
                       headers={"X-CSRF-Token": csrf(client), "Origin": BASE})


# --- one-time codes ------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["١٢٣٤٥٦", "１２３４５６", "12345٦", "²³⁴⁵⁶⁷"])
def test_non_ascii_digits_as_one_time_code_are_a_plain_failed_sign_in(site: WebSite, code: str) -> None:
    name = "uni" + hashlib.sha256(code.encode()).hexdigest()[:8]  # the same name in every run
    account = site.deps.accounts.add(name, roles=("owner",), password=PASSWORD)
    site.deps.accounts.enable_totp(account.id)
    site.rebuild(lockout_threshold=2, signin_rate_limit=1000)
    client = site.client()
    first = post_signin(client, name, PASSWORD, code)
    assert first.status_code == 401 and first.json()["detail"] == post_signin(client, name, "wrong!", "").json()[
        "detail"]  # the same answer as a wrong password: nothing says the password was right
    events = [(e.action, e.outcome, e.reason) for e in site.deps.audit.events(actor=name)]
    assert ("signin", "denied", "bad one-time code") in events
    assert ("lockout", "ok", "2 failed sign-ins") in events  # both failures counted


def test_one_time_code_check_refuses_non_ascii_digits_without_raising() -> None:
    key = totp.new_key()
    assert totp.matching_step(key, "١٢٣٤٥٦") is None
    assert totp.matching_step(key, totp.current_code(key)) is not None


# --- error answers -------------------------------------------------------------------------------
class Exploding:
    def __getattr__(self, name: str) -> Any:
        def boom(*args: object, **kwargs: object) -> None:
            raise RuntimeError("internal detail")
        return boom


def test_internal_error_answers_carry_the_security_headers(site: WebSite) -> None:
    app = create_app(dataclasses.replace(site.deps, mailbox=Exploding()))
    client = TestClient(app, base_url=BASE, raise_server_exceptions=False)
    sign_in(client, "alice")
    for path in ("/api/v1/calls", "/calls"):
        r = client.get(path)
        assert r.status_code == 500
        missing = [h for h in (*SECURITY_HEADERS, "strict-transport-security") if h not in r.headers]
        assert missing == [], (path, missing)


@pytest.mark.parametrize("zone", ["America", "Europe", "posixrules/../America", "Etc", "right"])
def test_a_time_zone_folder_is_refused_as_invalid_input(site: WebSite, zone: str) -> None:
    client = site.client()
    token = sign_in(client, "bob")
    r = client.put("/api/v1/me/settings", json={"notify_address": "", "timezone": zone, "language": ""},
                   headers={"X-CSRF-Token": token, "Origin": BASE})
    assert r.status_code == 400, r.text
    r = client.post("/settings", data={"timezone": zone, "csrf_token": token}, headers={"Origin": BASE})
    assert r.status_code == 400


# --- CSRF token bound to the session -------------------------------------------------------------
def test_a_pre_sign_in_token_is_refused_on_a_signed_in_session(site: WebSite) -> None:
    mid, _ = site.leave(seed=41)
    attacker = site.client()
    planted = csrf(attacker)  # the attacker's own pre-sign-in session and its token
    victim = site.client()
    sign_in(victim, "alice")
    victim.cookies.set(PRESIGNIN_COOKIE, attacker.cookies[PRESIGNIN_COOKIE], domain="testserver.local")
    r = victim.post(f"/api/v1/messages/{mid}/read", headers={"X-CSRF-Token": planted, "Origin": BASE})
    assert r.status_code == 403
    assert victim.get(f"/api/v1/messages/{mid}").json()["folder"] == "INBOX"


# --- request size --------------------------------------------------------------------------------
def test_an_oversized_body_is_refused_before_sign_in_without_being_read(site: WebSite) -> None:
    site.rebuild(max_body_bytes=64 * 1024)
    client = site.client()
    token = csrf(client)
    big = b"username=alice&password=" + b"x" * (256 * 1024)
    r = client.post("/signin", content=big, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                       "X-CSRF-Token": token, "Origin": BASE})
    assert r.status_code == 413
    assert all(h in r.headers for h in SECURITY_HEADERS)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(64):
            yield b"y" * 8192

    r = client.post("/api/v1/session", content=chunks(), headers={"Content-Type": "application/json",
                                                                  "X-CSRF-Token": token, "Origin": BASE})
    assert r.status_code == 413
    assert post_signin(client, "alice", PASSWORD).status_code == 200  # a normal sign-in still works


# --- ids and paths -------------------------------------------------------------------------------
def test_a_trailing_line_feed_after_an_id_or_name_is_refused(site: WebSite) -> None:
    from voicemail.domain.errors import InvalidInput
    from voicemail.domain.models import MailboxRef
    from voicemail.web import authz

    mid, _ = site.leave(seed=42)
    with pytest.raises(InvalidInput):
        authz.message_id(mid + "\n")
    with pytest.raises(InvalidInput):
        MailboxRef("default", "1001\n")
    with pytest.raises(InvalidInput):
        MailboxRef("default\n", "1001")
    with pytest.raises(InvalidInput):
        site.deps.accounts.add("mallory\n", roles=("owner",), password=PASSWORD)
    client = site.client()
    sign_in(client, "alice")
    assert client.get(f"/api/v1/messages/{mid}%0A").status_code == 400
    assert client.get("/api/v1/mailboxes/default/1001%0A/messages").status_code in (400, 404)


def test_trailing_slash_redirect_stays_on_this_site_whatever_the_host_header(site: WebSite) -> None:
    client = site.client()
    sign_in(client, "alice")
    for path in ("/calls/", "/settings/?x=1", "/api/v1/me/"):
        r = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
        location = r.headers.get("location", "")
        assert r.status_code in (307, 308, 404), (path, r.status_code)
        assert not location.startswith(("http:", "https:", "//", "/\\")), (path, location)
    r = client.get("/calls/", follow_redirects=False)
    assert r.status_code in (307, 308) and r.headers["location"] == "/calls"


@pytest.mark.parametrize(("path", "query", "location"), [
    ("/calls/", "", "/calls"), ("/settings/", "x=1", "/settings?x=1"), ("//evil.example/", "", "/evil.example"),
    ("/\\evil.example/", "", "/%5Cevil.example"), ("///\\//x/", "", "/%5C//x")])
def test_the_redirect_location_never_leaves_the_site(path: str, query: str, location: str) -> None:
    assert without_trailing_slash(path, query) == location


# --- throttling ----------------------------------------------------------------------------------
def test_throttled_sign_in_says_when_to_retry(site: WebSite) -> None:
    site.rebuild(signin_rate_limit=2, signin_rate_window=120.0, lockout_threshold=100)
    client = site.client()
    for _ in range(2):
        post_signin(client, "bob", "wrong password!!")
    r = post_signin(client, "bob", PASSWORD)
    assert r.status_code == 429 and r.headers.get("retry-after") == "120"
    r = client.post("/signin", data={"username": "bob", "password": PASSWORD, "csrf_token": csrf(client)},
                    headers={"Origin": BASE})
    assert r.status_code == 429 and r.headers.get("retry-after") == "120"
