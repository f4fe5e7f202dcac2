"""The Outlook add-in's server side over a real socket: the task pane's framing policy, the bearer token
(issued from a signed-in session or for an Office SSO access token checked against a local OpenID
provider's JWKS), its scope and expiry, and CSRF still holding for cookie sessions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.integration.web.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider
from tests.integration.web.signin_harness import Site, listening_socket, serve, site_settings
from voicemail.domain.models import MailboxRef
from voicemail.web.signin_identities import IdentityStore, oidc_key

AUDIENCE = "api://voicemail.test/" + CLIENT_ID
OUTLOOK = "https://outlook.office.com"
PASSWORD = "correct horse battery staple 42"
ALICE_SUB = "248289761001"


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with OidcProvider() as idp:
        yield idp


@pytest.fixture(scope="module")
def site(provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("outlook-site")
    sock = listening_socket()
    settings = site_settings(root, f"sqlite:///{root / 'db.sqlite'}", {
        "VOICEMAIL_OIDC_ISSUER": provider.issuer, "VOICEMAIL_OIDC_CLIENT_ID": CLIENT_ID,
        "VOICEMAIL_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "VOICEMAIL_OIDC_REDIRECT_URL": f"http://127.0.0.1:{sock.getsockname()[1]}/signin/oidc/callback",
        "VOICEMAIL_OUTLOOK_SSO_AUDIENCE": AUDIENCE, "VOICEMAIL_OUTLOOK_TOKEN_MINUTES": "1",
        "VOICEMAIL_OUTLOOK_FRAME_ANCESTORS": f"{OUTLOOK},https://outlook.cloud.microsoft",
        "VOICEMAIL_WEB_COOKIE_SECURE": "false"})
    with serve(settings, sock) as running:
        running.accounts.add("alice", roles=["owner"], mailboxes=[MailboxRef("default", "1002")], password=PASSWORD)
        IdentityStore(running.engine).map("oidc", oidc_key(provider.issuer, ALICE_SUB), "alice")
        yield running


def signed_in(site: Site) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=site.base_url, timeout=10)
    csrf = client.get("/api/v1/session").json()["csrf_token"]
    answer = client.post("/api/v1/session", json={"username": "alice", "password": PASSWORD},
                         headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200, answer.text
    return client, str(answer.json()["csrf_token"])


def dialog_token(site: Site) -> str:
    client, csrf = signed_in(site)
    try:
        answer = client.post("/api/v1/outlook/token", headers={"X-CSRF-Token": csrf})
    finally:
        client.close()
    assert answer.status_code == 200, answer.text
    assert answer.json()["expires_in"] == 60
    return str(answer.json()["token"])


def access_token(provider: OidcProvider, key: RSAKey | None = None, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": provider.issuer, "aud": AUDIENCE, "sub": ALICE_SUB, "iat": now, "nbf": now, "exp": now + 600,
            **claims}
    return jwt.encode({"alg": "RS256", "kid": provider.kid, "typ": "JWT"}, body, key or provider.key)


def test_only_the_task_pane_may_be_framed_and_only_by_the_configured_outlook_origins(site: Site) -> None:
    pane = httpx.get(site.base_url + "/outlook/taskpane")
    assert pane.status_code == 200
    csp = pane.headers["content-security-policy"]
    assert f"frame-ancestors {OUTLOOK} https://outlook.cloud.microsoft" in csp
    assert "x-frame-options" not in pane.headers
    assert "https://appsforoffice.microsoft.com" in csp and "media-src 'self' blob:" in csp
    for other in ("/signin", "/outlook/dialog", "/api/v1/session", "/static/outlook/taskpane.js"):
        answer = httpx.get(site.base_url + other)
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], other
        assert answer.headers["x-frame-options"] == "DENY", other


def test_a_signed_in_session_gets_an_audited_bearer_token_that_works_on_the_api_only(site: Site) -> None:
    token = dialog_token(site)
    issued = site.audit("token.issue")[-1]
    assert (issued["actor"], issued["outcome"]) == ("alice", "ok")
    assert token not in str(issued)
    bearer = {"Authorization": f"Bearer {token}"}
    me = httpx.get(site.base_url + "/api/v1/session", headers=bearer)
    assert me.json()["signed_in"] is True and me.json()["username"] == "alice"
    assert httpx.get(site.base_url + "/settings", headers=bearer, follow_redirects=False).status_code == 303
    as_cookie = httpx.get(site.base_url + "/api/v1/me", cookies={"vm_session": token})
    assert as_cookie.status_code == 401
    # a token cannot mint another token
    again = httpx.post(site.base_url + "/api/v1/outlook/token", headers=bearer)
    assert again.status_code == 401
    assert site.audit("token.issue")[-1]["outcome"] == "denied"


def test_signing_out_with_a_bearer_token_ends_that_token(site: Site) -> None:
    bearer = {"Authorization": f"Bearer {dialog_token(site)}"}
    assert httpx.delete(site.base_url + "/api/v1/session", headers=bearer).status_code == 204
    assert httpx.get(site.base_url + "/api/v1/me", headers=bearer).status_code == 401


def test_a_bearer_request_needs_no_csrf_token_but_a_cookie_session_still_does(site: Site) -> None:
    token = dialog_token(site)
    nowhere = "/api/v1/messages/00000000-0000-4000-8000-000000000000/read"
    with_bearer = httpx.post(site.base_url + nowhere, headers={"Authorization": f"Bearer {token}"})
    assert with_bearer.status_code == 404  # past CSRF and sign-in: the message does not exist
    client, _csrf = signed_in(site)
    try:
        assert client.post(nowhere).status_code == 403
        assert client.post("/api/v1/outlook/token").status_code == 403
    finally:
        client.close()


def test_a_bearer_token_expires(site: Site) -> None:
    token = dialog_token(site)
    assert site.app is not None
    deps = site.app.state.web
    real = deps.clock
    deps.clock = lambda: real() + 61
    try:
        answer = httpx.get(site.base_url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    finally:
        deps.clock = real
    assert answer.status_code == 401


def test_an_office_sso_access_token_is_exchanged_for_a_bearer_token(site: Site, provider: OidcProvider) -> None:
    answer = httpx.post(site.base_url + "/api/v1/outlook/sso", json={"access_token": access_token(provider)})
    assert answer.status_code == 200, answer.text
    me = httpx.get(site.base_url + "/api/v1/me", headers={"Authorization": f"Bearer {answer.json()['token']}"})
    assert me.json()["username"] == "alice"
    issued = site.audit("token.issue")[-1]
    assert (issued["actor"], issued["outcome"]) == ("alice", "ok")


@pytest.mark.parametrize("fault", ["wrong_audience", "wrong_issuer", "expired", "other_key", "unmapped"])
def test_an_sso_token_that_fails_any_check_gets_no_bearer_token(site: Site, provider: OidcProvider,
                                                                fault: str) -> None:
    now = int(time.time())
    token = {
        "wrong_audience": lambda: access_token(provider, aud="api://somebody-else"),
        "wrong_issuer": lambda: access_token(provider, iss="https://login.example.invalid"),
        "expired": lambda: access_token(provider, iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "other_key": lambda: access_token(provider, key=provider.other_key),
        "unmapped": lambda: access_token(provider, sub="nobody-we-know"),
    }[fault]()
    answer = httpx.post(site.base_url + "/api/v1/outlook/sso", json={"access_token": token})
    assert answer.status_code in (401, 403)
    assert "token" not in answer.json()
    assert site.audit("token.issue")[-1]["outcome"] == "denied"
