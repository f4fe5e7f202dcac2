"""OIDC sign-in against a real (local) OpenID provider over HTTP: the app on a real socket, the
browser's redirects followed by hand so that each leg can be tampered with."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.integration.web.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider
from tests.integration.web.signin_harness import Site, listening_socket, serve, site_settings
from voicemail.web.signin_identities import IdentityStore, oidc_key

ALICE = {"sub": "248289761001", "preferred_username": "alice", "email": "alice@x.test"}


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with OidcProvider() as idp:
        yield idp


@pytest.fixture(scope="module")
def site(provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("oidc-site")
    sock = listening_socket()
    redirect = f"http://127.0.0.1:{sock.getsockname()[1]}/signin/oidc/callback"
    provider.redirect_uris.add(redirect)
    settings = site_settings(root, f"sqlite:///{root / 'db.sqlite'}", {
        "VOICEMAIL_OIDC_ISSUER": provider.issuer, "VOICEMAIL_OIDC_CLIENT_ID": CLIENT_ID,
        "VOICEMAIL_OIDC_CLIENT_SECRET": CLIENT_SECRET, "VOICEMAIL_OIDC_REDIRECT_URL": redirect,
        "VOICEMAIL_WEB_COOKIE_SECURE": "false"})
    with serve(settings, sock) as running:
        running.accounts.add("alice", roles=["owner"])
        running.accounts.add("mallory", roles=["owner"])
        IdentityStore(running.engine).map("oidc", oidc_key(provider.issuer, ALICE["sub"]), "alice")
        yield running


@pytest.fixture
def idp(provider: OidcProvider) -> Iterator[OidcProvider]:
    provider.fault = None
    provider.user = dict(ALICE)
    yield provider
    provider.fault = None


@pytest.fixture
def browser(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.base_url, timeout=10) as client:
        yield client


def start(browser: httpx.Client) -> str:
    """GET /signin/oidc: the provider's authorization URL it redirects to."""
    response = browser.get("/signin/oidc")
    assert response.status_code == 303, response.text
    return response.headers["location"]


def at_provider(authorize_url: str) -> str:
    """The person signs in at the provider, which sends the browser back: the callback URL."""
    response = httpx.get(authorize_url, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def signed_in_as(browser: httpx.Client) -> str | None:
    response = browser.get("/api/v1/me")
    return str(response.json()["username"]) if response.status_code == 200 else None


def last_signin(site: Site) -> dict[str, object]:
    return site.audit("signin")[-1]


def test_oidc_code_flow_with_pkce_signs_in_the_mapped_account(site: Site, idp: OidcProvider,
                                                              browser: httpx.Client) -> None:
    authorize = start(browser)
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(idp.issuer + "/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    assert "openid" in query["scope"][0].split()
    callback = at_provider(authorize)
    response = browser.get(callback)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert signed_in_as(browser) == "alice"
    assert idp.token_requests[-1]["code_verifier"]  # PKCE verifier sent with the code
    event = last_signin(site)
    assert (event["actor"], event["outcome"]) == ("alice", "ok") and '"method":"oidc"' in str(event["details"])
    # the state is single use: replaying the same callback fails
    replay = httpx.get(site.base_url + callback[len(site.base_url):], cookies=browser.cookies, timeout=10)
    assert replay.status_code == 400 and "not valid any more" in replay.text


def test_wrong_state_is_refused(site: Site, idp: OidcProvider, browser: httpx.Client) -> None:
    callback = at_provider(start(browser))
    parts = urlsplit(callback)
    code = parse_qs(parts.query)["code"][0]
    forged = f"{parts.path}?{urlencode({'code': code, 'state': 'forged-state'})}"
    response = browser.get(forged)
    assert response.status_code == 400 and "not valid any more" in response.text
    assert signed_in_as(browser) is None
    assert str(last_signin(site)["reason"]).startswith("state")


def test_callback_opened_in_another_browser_is_refused(site: Site, idp: OidcProvider, browser: httpx.Client) -> None:
    """Login CSRF: an attacker's callback URL (their code and state) sent to a victim's browser."""
    callback = at_provider(start(browser))
    with httpx.Client(base_url=site.base_url, timeout=10) as victim:
        response = victim.get(callback[len(site.base_url):])
        assert response.status_code == 400
        assert signed_in_as(victim) is None


@pytest.mark.parametrize(("fault", "reason"), [
    ("wrong_nonce", "nonce"),
    ("bad_signature", "signature"),
    ("expired", "exp"),
    ("wrong_audience", "aud"),
    ("wrong_issuer", "iss"),
])
def test_bad_id_token_is_refused(site: Site, idp: OidcProvider, browser: httpx.Client, fault: str,
                                 reason: str) -> None:
    idp.fault = fault
    response = browser.get(at_provider(start(browser)))
    assert response.status_code == 403 and "could not be verified" in response.text
    assert signed_in_as(browser) is None
    event = last_signin(site)
    assert event["outcome"] == "denied" and str(event["reason"]).startswith("id_token")
    assert reason in str(event["reason"])


def test_unmapped_subject_is_refused(site: Site, idp: OidcProvider, browser: httpx.Client) -> None:
    idp.user = {"sub": "999", "preferred_username": "mallory", "email": "mallory@x.test"}
    response = browser.get(at_provider(start(browser)))
    assert response.status_code == 403 and "not linked to an account" in response.text
    assert signed_in_as(browser) is None
    event = last_signin(site)
    assert (event["actor"], event["reason"]) == ("oidc:999", "unmapped")


def test_provider_error_is_refused(site: Site, idp: OidcProvider, browser: httpx.Client) -> None:
    authorize = start(browser)
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    response = browser.get("/signin/oidc/callback?" + urlencode({"error": "access_denied", "state": state}))
    assert response.status_code == 403 and "did not sign you in" in response.text
    assert signed_in_as(browser) is None


def test_provider_key_rotation_is_followed(site: Site, idp: OidcProvider, browser: httpx.Client) -> None:
    """A token signed with a new key (new kid) after the app cached the JWKS: refetched once, accepted."""
    from joserfc.jwk import RSAKey

    with httpx.Client(base_url=site.base_url, timeout=10) as earlier:  # the app has fetched the JWKS (k1)
        assert earlier.get(at_provider(start(earlier))).status_code == 303
    old = idp.key
    idp.key = RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig", "alg": "RS256"})
    idp.kid = "k2"
    try:
        response = browser.get(at_provider(start(browser)))
        assert response.status_code == 303
        assert signed_in_as(browser) == "alice"
    finally:
        idp.key, idp.kid = old, "k1"
