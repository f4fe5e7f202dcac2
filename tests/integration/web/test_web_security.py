"""Sign-in and session security over the real app: CSRF, session fixation, cookie flags, timeouts,
lockout, rate limit, TOTP, path traversal / id tampering, error hygiene, audit."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.web.web_harness import BASE, PASSWORD, WebSite, csrf, sign_in, web_site
from voicemail.web.app import create_app
from voicemail.web.auth import totp
from voicemail.web.ratelimit import RateLimiter
from voicemail.web.sessions import PRESIGNIN_COOKIE, SESSION_COOKIE
from voicemail.web.sessions_store import SessionStore
from voicemail.web.tables import web_accounts


@pytest.fixture(scope="module")
def base_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("security")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}") as s:
        yield s


@pytest.fixture
def site(base_site: WebSite) -> WebSite:
    base_site.rebuild(signin_rate_limit=1000, lockout_threshold=5)  # a fresh rate window per test
    return base_site


def new_account(site: WebSite, name: str, **kw: Any) -> int:
    return site.deps.accounts.add(name, roles=("owner",), password=PASSWORD, **kw).id


def actions(site: WebSite, actor: str) -> list[tuple[str, str, str]]:
    return [(e.action, e.outcome, e.reason) for e in site.deps.audit.events(actor=actor)]


# --- CSRF ----------------------------------------------------------------------------------------
def test_state_change_without_csrf_token_is_refused_and_changes_nothing(site: WebSite) -> None:
    mid, _ = site.leave(seed=11)
    client = site.client()
    sign_in(client, "alice")
    r = client.post(f"/api/v1/messages/{mid}/read", headers={"Origin": BASE})
    assert r.status_code == 403
    r = client.delete(f"/api/v1/messages/{mid}")
    assert r.status_code == 403
    assert client.get(f"/api/v1/messages/{mid}").json()["folder"] == "INBOX"


def test_wrong_csrf_token_is_refused(site: WebSite) -> None:
    mid, _ = site.leave(seed=12)
    client = site.client()
    sign_in(client, "alice")
    other = site.client()
    foreign = sign_in(other, "bob")  # a real token, of another session
    for token in ("x" * 43, foreign, ""):
        r = client.post(f"/api/v1/messages/{mid}/read", headers={"X-CSRF-Token": token, "Origin": BASE})
        assert r.status_code == 403, token
    assert client.get(f"/api/v1/messages/{mid}").json()["folder"] == "INBOX"


def test_cross_origin_request_is_refused_even_with_the_right_token(site: WebSite) -> None:
    mid, _ = site.leave(seed=13)
    client = site.client()
    token = sign_in(client, "alice")
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Referer": "https://evil.example/page"}, {"Origin": "http://testserver"}):
        r = client.post(f"/api/v1/messages/{mid}/read", headers={"X-CSRF-Token": token, **headers})
        assert r.status_code == 403, headers
    assert client.get(f"/api/v1/messages/{mid}").json()["folder"] == "INBOX"


def test_sign_in_form_needs_its_csrf_token(site: WebSite) -> None:
    client = site.client()
    r = client.post("/api/v1/session", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 403
    r = client.post("/signin", data={"username": "alice", "password": PASSWORD, "csrf_token": "forged"},
                    follow_redirects=False)
    assert r.status_code == 403
    assert SESSION_COOKIE not in client.cookies


# --- sessions ------------------------------------------------------------------------------------
def test_planted_session_cookie_is_not_adopted_and_sign_in_makes_a_new_id(site: WebSite) -> None:
    attacker = site.client()
    csrf(attacker)  # the attacker's own pre-sign-in session, planted in the victim's browser
    planted_pre = attacker.cookies[PRESIGNIN_COOKIE]
    victim = site.client()
    victim.cookies.set(SESSION_COOKIE, "attacker-chosen-session-id", domain="testserver.local")
    victim.cookies.set(PRESIGNIN_COOKIE, planted_pre, domain="testserver.local")
    sign_in(victim, "alice")
    issued = victim.cookies.get(SESSION_COOKIE, domain="testserver.local")
    assert issued and issued not in ("attacker-chosen-session-id", planted_pre)
    attacker.cookies.set(SESSION_COOKIE, "attacker-chosen-session-id", domain="testserver.local")
    assert attacker.get("/api/v1/me").status_code == 401
    fixed = site.client()
    fixed.cookies.set(SESSION_COOKIE, planted_pre, domain="testserver.local")
    assert fixed.get("/api/v1/me").status_code == 401
    assert victim.get("/api/v1/me").json()["username"] == "alice"


def test_every_sign_in_gets_a_new_session_id_and_the_old_one_dies(site: WebSite) -> None:
    client = site.client()
    sign_in(client, "alice")
    first = client.cookies[SESSION_COOKIE]
    sign_in(client, "alice")
    second = client.cookies[SESSION_COOKIE]
    assert first != second
    replay = site.client()
    replay.cookies.set(SESSION_COOKIE, first, domain="testserver.local")
    assert replay.get("/api/v1/me").status_code == 401


def test_session_table_stores_only_a_hash_of_the_id(site: WebSite) -> None:
    client = site.client()
    sign_in(client, "alice")
    raw = client.cookies[SESSION_COOKIE]
    with site.deps.engine.connect() as conn:
        dump = json.dumps([list(map(str, r)) for r in conn.exec_driver_sql("SELECT * FROM web_sessions")])
    assert raw not in dump


def test_sign_out_destroys_the_session(site: WebSite) -> None:
    client = site.client()
    token = sign_in(client, "alice")
    cookie = client.cookies[SESSION_COOKIE]
    r = client.delete("/api/v1/session", headers={"X-CSRF-Token": token, "Origin": BASE})
    assert r.status_code == 204
    replay = site.client()
    replay.cookies.set(SESSION_COOKIE, cookie, domain="testserver.local")
    assert replay.get("/api/v1/me").status_code == 401
    assert ("signout", "ok", "") in actions(site, "alice")


def test_session_cookie_flags(site: WebSite) -> None:
    client = site.client()
    r = client.post("/api/v1/session", json={"username": "alice", "password": PASSWORD},
                    headers={"X-CSRF-Token": csrf(client), "Origin": BASE})
    cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith(SESSION_COOKIE + "=")]
    assert len(cookies) == 1
    flags = [part.strip().lower() for part in cookies[0].split(";")]
    assert "httponly" in flags and "secure" in flags and "samesite=lax" in flags and "path=/" in flags
    assert not any(f.startswith(("max-age", "expires")) for f in flags)  # ends with the browser session


def test_idle_and_absolute_timeouts_end_a_session(site: WebSite) -> None:
    now = [1_000_000.0]
    sessions = SessionStore(site.deps.engine, idle=60, absolute=300, clock=lambda: now[0])
    app = create_app(dataclasses.replace(site.deps, sessions=sessions))
    client = TestClient(app, base_url=BASE)
    sign_in(client, "alice")
    now[0] += 50
    assert client.get("/api/v1/me").status_code == 200
    now[0] += 61  # idle too long
    assert client.get("/api/v1/me").status_code == 401
    sign_in(client, "alice")
    for _ in range(7):  # active every 45 s, but 315 s after sign-in: absolute timeout
        now[0] += 45
        code = client.get("/api/v1/me").status_code
    assert code == 401


# --- lockout, rate limit, uniform failures ---------------------------------------------------------
def test_account_locks_after_failed_sign_ins_and_unlock_ends_it(site: WebSite) -> None:
    site.rebuild(lockout_threshold=3, signin_rate_limit=1000)
    account_id = new_account(site, "locky")
    client = site.client()
    for _ in range(3):
        r = client.post("/api/v1/session", json={"username": "locky", "password": "wrong password!!"},
                        headers={"X-CSRF-Token": csrf(client), "Origin": BASE})
        assert r.status_code == 401
    r = client.post("/api/v1/session", json={"username": "locky", "password": PASSWORD},
                    headers={"X-CSRF-Token": csrf(client), "Origin": BASE})
    assert r.status_code == 401  # right password, but locked
    events = actions(site, "locky")
    assert ("lockout", "ok", "3 failed sign-ins") in events
    assert ("signin", "denied", "locked") in events
    site.deps.accounts.unlock(account_id)
    sign_in(client, "locky")


def test_disabled_account_cannot_sign_in_and_its_session_stops_working(site: WebSite) -> None:
    account_id = new_account(site, "dora")
    client = site.client()
    sign_in(client, "dora")
    site.deps.accounts.set_disabled(account_id, True)
    assert client.get("/api/v1/me").status_code == 401
    r = client.post("/api/v1/session", json={"username": "dora", "password": PASSWORD},
                    headers={"X-CSRF-Token": csrf(client), "Origin": BASE})
    assert r.status_code == 401
    assert ("signin", "denied", "disabled") in actions(site, "dora")


def test_failures_do_not_reveal_whether_the_account_exists(site: WebSite) -> None:
    client = site.client()
    answers = []
    for username in ("alice", "no-such-user"):
        r = client.post("/api/v1/session", json={"username": username, "password": "not the password"},
                        headers={"X-CSRF-Token": csrf(client), "Origin": BASE})
        answers.append((r.status_code, r.json()))
    assert answers[0] == answers[1]
    r = client.post("/signin", data={"username": "no-such-user", "password": "x", "csrf_token": csrf(client)},
                    headers={"Origin": BASE})
    r2 = client.post("/signin", data={"username": "alice", "password": "x", "csrf_token": csrf(client)},
                     headers={"Origin": BASE})
    assert r.status_code == r2.status_code == 401
    assert r.text.replace("no-such-user", "alice") == r2.text
    # what was typed as a user name that is no account is kept only as a hash (it may be a password)
    unknown = site.deps.audit.events(actor="(unknown account)")
    assert unknown and all("no-such-user" not in e.details for e in unknown)
    assert all(json.loads(e.details)["username_sha256"] for e in unknown)


def test_sign_in_attempts_are_rate_limited_per_client_address(site: WebSite) -> None:
    site.rebuild(signin_rate_limit=3, lockout_threshold=100)
    client = site.client()
    for _ in range(3):
        client.post("/api/v1/session", json={"username": "bob", "password": "wrong password!!"},
                    headers={"X-CSRF-Token": csrf(client), "Origin": BASE})
    r = client.post("/api/v1/session", json={"username": "bob", "password": PASSWORD},
                    headers={"X-CSRF-Token": csrf(client), "Origin": BASE})
    assert r.status_code == 429
    assert SESSION_COOKIE not in client.cookies
    assert ("signin", "denied", "rate limited") in actions(site, "bob")


def test_pre_sign_in_sessions_per_address_are_limited(site: WebSite) -> None:
    app = create_app(dataclasses.replace(site.deps, presignin_limiter=RateLimiter(3, 300)))
    codes = [TestClient(app, base_url=BASE).get("/api/v1/session").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert TestClient(app, base_url=BASE).get("/signin").status_code == 429


# --- TOTP ----------------------------------------------------------------------------------------
def test_totp_is_required_once_enabled_and_a_code_works_once(site: WebSite) -> None:
    account_id = new_account(site, "tess")
    uri = site.deps.accounts.enable_totp(account_id)
    assert uri.startswith("otpauth://totp/")
    key = site.deps.accounts.totp_key(account_id)
    assert key is not None
    with site.deps.engine.connect() as conn:
        blob = conn.execute(select(web_accounts.c.totp_blob).where(web_accounts.c.id == account_id)).scalar()
    assert blob is not None
    assert key[:20] not in bytes(blob) and totp.secret_of(key).encode() not in bytes(blob)
    client = site.client()

    def attempt(code: str) -> int:
        status: int = client.post("/api/v1/session", json={"username": "tess", "password": PASSWORD, "totp": code},
                                  headers={"X-CSRF-Token": csrf(client), "Origin": BASE}).status_code
        return status

    assert attempt("") == 401
    assert attempt("000000" if totp.current_code(key) != "000000" else "111111") == 401
    code = totp.current_code(key)
    assert attempt(code) == 200
    assert attempt(code) == 401  # replay of the same code
    assert ("signin", "ok", "") in actions(site, "tess")


# --- ids and paths -------------------------------------------------------------------------------
def test_traversal_and_id_tampering_get_4xx_and_touch_nothing(site: WebSite) -> None:
    bobs, bob_audio = site.leave("1002@default", seed=21)
    client = site.client()
    token = sign_in(client, "alice")
    paths = ["/api/v1/mailboxes/default/..%2f1002/messages", "/api/v1/mailboxes/%2e%2e/1001/messages",
             "/api/v1/mailboxes/default/%2e%2e/messages", "/api/v1/mailboxes/default/1002/messages",
             "/api/v1/messages/..%2f..%2fetc%2fpasswd", "/api/v1/messages/%2e%2e", "/api/v1/messages/1",
             f"/api/v1/messages/{bobs}", f"/api/v1/messages/{bobs}/audio", f"/api/v1/messages/{bobs}%00",
             f"/api/v1/messages/{bobs.upper()}/audio", "/messages/..%2f..%2fetc%2fpasswd", f"/messages/{bobs}"]
    for path in paths:
        r = client.get(path)
        assert 400 <= r.status_code < 500, (path, r.status_code)
        assert b"RIFF" not in r.content
    for method, path in (("POST", f"/api/v1/messages/{bobs}/read"), ("DELETE", f"/api/v1/messages/{bobs}"),
                         ("POST", "/api/v1/messages/..%2f1/read"), ("POST", f"/messages/{bobs}/delete")):
        r = client.request(method, path, headers={"X-CSRF-Token": token, "Origin": BASE})
        assert 400 <= r.status_code < 500, (path, r.status_code)
    bob = site.client()
    sign_in(bob, "bob")
    assert bob.get(f"/api/v1/messages/{bobs}").json()["folder"] == "INBOX"
    assert bob.get(f"/api/v1/messages/{bobs}/audio").content == bob_audio


def test_unsatisfiable_range_is_416(site: WebSite) -> None:
    mid, audio = site.leave(seed=31)
    client = site.client()
    sign_in(client, "alice")
    r = client.get(f"/api/v1/messages/{mid}/audio", headers={"Range": f"bytes={len(audio) + 10}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(audio)}"  # RFC 9110: the length, so a client can retry
    r = client.get(f"/api/v1/messages/{mid}/audio", headers={"Range": "bytes=-100"})
    assert r.status_code == 206 and r.content == audio[-100:]
    assert r.headers["content-range"] == f"bytes {len(audio) - 100}-{len(audio) - 1}/{len(audio)}"
    assert r.headers["cache-control"] == "no-store"


# --- errors, status, audit -----------------------------------------------------------------------
class Exploding:
    def __getattr__(self, name: str) -> Any:
        def boom(*args: object, **kwargs: object) -> None:
            raise RuntimeError("secret internal detail /var/vault/abc")
        return boom


def test_internal_errors_reveal_nothing(site: WebSite) -> None:
    app = create_app(dataclasses.replace(site.deps, mailbox=Exploding()))
    client = TestClient(app, base_url=BASE, raise_server_exceptions=False)
    sign_in(client, "alice")
    r = client.get("/api/v1/calls")
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error"}
    r = client.get("/calls")
    assert r.status_code == 500 and "secret internal" not in r.text and "Traceback" not in r.text


def test_healthz_says_only_ok_and_status_is_for_administrators(site: WebSite) -> None:
    client = site.client()
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert client.get("/status").status_code == 401
    sign_in(client, "alice")
    assert client.get("/status").status_code == 404
    admin = site.client()
    sign_in(admin, "admin")
    body = admin.get("/status").json()
    assert body["checks"]["database"] == {"ok": True, "detail": "sqlite"}
    assert body["checks"]["vault"]["ok"] is True
    assert body["checks"]["broker"] == {"ok": True, "detail": "embedded"}
    assert "ami" in body["checks"]


def test_settings_are_validated_and_changes_audited(site: WebSite) -> None:
    client = site.client()
    token = sign_in(client, "bob")
    h = {"X-CSRF-Token": token, "Origin": BASE}
    for bad in ({"timezone": "../../etc/passwd"}, {"notify_address": "x@y\r\nBcc: z@evil"}, {"language": "<b>"}):
        assert client.put("/api/v1/me/settings", json=bad, headers=h).status_code == 400, bad
    good = {"notify_address": "bob@example.test", "timezone": "Europe/Paris", "language": "fr"}
    assert client.put("/api/v1/me/settings", json=good, headers=h).json() == good
    events = actions(site, "bob")
    assert ("settings.update", "ok", "") in events and ("settings.update", "denied", "invalid settings") in events


def test_openapi_document_lists_the_api(site: WebSite) -> None:
    doc = site.client().get("/openapi.json").json()
    for path in ("/api/v1/messages/{message_id}/audio", "/api/v1/session", "/api/v1/calls", "/api/v1/me/settings",
                 "/api/v1/mailboxes/{context}/{mailbox}/messages", "/healthz", "/status"):
        assert path in doc["paths"], path
    assert not any(p.startswith("/messages") or p == "/signin" for p in doc["paths"])


def test_sign_in_and_failures_are_audited_with_the_client_address(site: WebSite) -> None:
    client = site.client()
    client.post("/api/v1/session", json={"username": "alice", "password": "nope nope nope"},
                headers={"X-CSRF-Token": csrf(client), "Origin": BASE})
    sign_in(client, "alice")
    events = [e for e in site.deps.audit.events(actor="alice") if e.action == "signin"][-2:]
    assert [(e.outcome, e.reason) for e in events] == [("denied", "bad credentials"), ("ok", "")]
    assert all(e.source == "testclient" for e in events)
    assert json.loads(events[-1].details) == {"method": "password"}
