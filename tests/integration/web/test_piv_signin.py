"""PIV / CAC sign-in over real sockets: uvicorn terminating TLS with client certificates, and a reverse
proxy passing the certificate in a header (trusted from 127.0.0.1/32, or not trusted at all)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.integration.web import pki
from tests.integration.web.signin_harness import Site, serve, site_settings
from voicemail.web.piv_cert import fingerprint
from voicemail.web.signin_identities import IdentityStore

HEADER = "X-SSL-Client-Cert"


@pytest.fixture(scope="module")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> pki.TestPki:
    return pki.build(tmp_path_factory.mktemp("pki"))


def add_people(site: Site, test_pki: pki.TestPki) -> None:
    """alice (mapped by the UPN in her card), carol (two keys of one card mapped to two accounts),
    dave (mapped, but his certificate has no EKU), bob (not mapped)."""
    for name in ("alice", "carol", "carol2", "dave", "erin"):
        site.accounts.add(name, roles=["owner"])
    ids = IdentityStore(site.engine)
    ids.map("piv", "upn:alice@test.example", "alice")
    ids.map("piv", f"sha256:{fingerprint(test_pki.no_eku.cert)}", "dave")
    ids.map("piv", f"sha256:{fingerprint(test_pki.expired.cert)}", "erin")
    ids.map("piv", f"sha256:{fingerprint(test_pki.wrong_issuer.cert)}", "erin")


@pytest.fixture(scope="module")
def tls_site(test_pki: pki.TestPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("tls-site")
    cert, key = test_pki.server.write(root, "server")
    settings = site_settings(root, f"sqlite:///{root / 'db.sqlite'}", {
        "VOICEMAIL_WEB_TLS_CERT": str(cert), "VOICEMAIL_WEB_TLS_KEY": str(key),
        "VOICEMAIL_WEB_CLIENT_CERT_MODE": "optional", "VOICEMAIL_WEB_CLIENT_CA_FILE": str(test_pki.ca_file),
        "VOICEMAIL_WEB_BASE_URL": "https://127.0.0.1"})
    with serve(settings) as site:
        add_people(site, test_pki)
        yield site


def card_client(site: Site, test_pki: pki.TestPki, card: pki.Issued | None, folder: Path) -> httpx.Client:
    """A browser with a smart card: trusts the test root for the server, presents ``card``."""
    ctx = ssl.create_default_context(cafile=str(test_pki.ca_file))
    if card is not None:
        cert, key = card.write(folder, f"card-{card.cert.serial_number}")
        ctx.load_cert_chain(cert, key)
    return httpx.Client(base_url=site.base_url, verify=ctx, timeout=10)


def signed_in_as(client: httpx.Client) -> str | None:
    response = client.get("/api/v1/me")
    return str(response.json()["username"]) if response.status_code == 200 else None


def last_signin(site: Site) -> dict[str, object]:
    return site.audit("signin")[-1]


def test_valid_card_over_uvicorn_tls_signs_in_to_its_account(tls_site: Site, test_pki: pki.TestPki,
                                                             tmp_path: Path) -> None:
    with card_client(tls_site, test_pki, test_pki.alice, tmp_path) as browser:
        response = browser.get("/signin/piv")
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "Secure" in cookie
        assert signed_in_as(browser) == "alice"
    event = last_signin(tls_site)
    assert (event["actor"], event["outcome"], '"method":"piv"' in str(event["details"])) == ("alice", "ok", True)


def test_card_without_client_auth_eku_gets_an_error_page_and_no_session(tls_site: Site, test_pki: pki.TestPki,
                                                                       tmp_path: Path) -> None:
    before = tls_site.sessions()
    with card_client(tls_site, test_pki, test_pki.no_eku, tmp_path) as browser:
        response = browser.get("/signin/piv")
        assert response.status_code == 403
        assert "not a client authentication certificate" in response.text
        assert "set-cookie" not in response.headers or "vm_session" not in response.headers["set-cookie"]
        assert signed_in_as(browser) is None
    assert tls_site.sessions() == before
    event = last_signin(tls_site)
    assert event["outcome"] == "denied" and str(event["reason"]).startswith("no_client_auth")
    assert fingerprint(test_pki.no_eku.cert) in str(event["details"])


def test_unmapped_card_is_refused_with_a_clear_page(tls_site: Site, test_pki: pki.TestPki, tmp_path: Path) -> None:
    with card_client(tls_site, test_pki, test_pki.bob, tmp_path) as browser:
        response = browser.get("/signin/piv")
    assert response.status_code == 403 and "not linked to an account" in response.text
    assert last_signin(tls_site)["reason"] == "unmapped"


def test_card_whose_keys_name_two_accounts_is_refused(tls_site: Site, test_pki: pki.TestPki, tmp_path: Path) -> None:
    carol = pki.issue(test_pki.root, "CAROL.C.CARR.1000000008", upn="carol@test.example")
    ids = IdentityStore(tls_site.engine)
    ids.map("piv", f"sha256:{fingerprint(carol.cert)}", "carol")
    ids.map("piv", "upn:carol@test.example", "carol2")
    with card_client(tls_site, test_pki, carol, tmp_path) as browser:
        response = browser.get("/signin/piv")
        assert response.status_code == 403 and "more than one account" in response.text
        assert signed_in_as(browser) is None
    assert last_signin(tls_site)["reason"] == "ambiguous"


def test_no_card_presented_is_refused(tls_site: Site, test_pki: pki.TestPki, tmp_path: Path) -> None:
    with card_client(tls_site, test_pki, None, tmp_path) as browser:
        assert browser.get("/healthz").status_code == 200  # the site itself works without a card (optional)
        response = browser.get("/signin/piv")
    assert response.status_code == 403 and "No smart card certificate" in response.text


@pytest.mark.parametrize("card", ["expired", "wrong_issuer", "email_only"])
def test_expired_wrong_issuer_and_wrong_eku_cards_never_reach_the_app(tls_site: Site, test_pki: pki.TestPki,
                                                                      tmp_path: Path, card: str) -> None:
    """uvicorn's TLS layer (OpenSSL, same CA bundle) already refuses these: no request, no session."""
    before_sessions, before_events = tls_site.sessions(), len(tls_site.audit("signin"))
    with card_client(tls_site, test_pki, getattr(test_pki, card), tmp_path) as browser, \
            pytest.raises(httpx.TransportError):
        browser.get("/signin/piv")
    assert tls_site.sessions() == before_sessions
    assert len(tls_site.audit("signin")) == before_events


# --- reverse proxy mode --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def proxy_sites(test_pki: pki.TestPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Site]]:
    """Two plain-HTTP sites behind a "proxy" (this test): one trusts 127.0.0.1/32, one only 10.0.0.0/8."""
    sites: dict[str, Site] = {}
    with contextlib.ExitStack() as stack:
        for name, trusted in (("trusted", "127.0.0.1/32"), ("untrusted", "10.0.0.0/8")):
            root = tmp_path_factory.mktemp(f"proxy-{name}")
            settings = site_settings(root, f"sqlite:///{root / 'db.sqlite'}", {
                "VOICEMAIL_WEB_CLIENT_CERT_HEADER": HEADER, "VOICEMAIL_WEB_TRUSTED_PROXIES": trusted,
                "VOICEMAIL_WEB_CLIENT_CA_FILE": str(test_pki.ca_file), "VOICEMAIL_WEB_COOKIE_SECURE": "false"})
            sites[name] = stack.enter_context(serve(settings))
            add_people(sites[name], test_pki)
        yield sites


def via_proxy(site: Site, card: pki.Issued) -> httpx.Client:
    """What nginx sends: proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;"""
    return httpx.Client(base_url=site.base_url, timeout=10, headers={HEADER: quote(card.pem.decode(), safe="")})


def test_certificate_header_from_trusted_proxy_signs_in(proxy_sites: dict[str, Site], test_pki: pki.TestPki) -> None:
    site = proxy_sites["trusted"]
    with via_proxy(site, test_pki.alice) as browser:
        response = browser.get("/signin/piv")
        assert response.status_code == 303
        assert signed_in_as(browser) == "alice"
    assert last_signin(site)["outcome"] == "ok"


@pytest.mark.parametrize(("card", "code", "text"), [
    ("expired", "expired", "has expired"),
    ("not_yet_valid", "not_yet_valid", "not valid yet"),
    ("wrong_issuer", "wrong_issuer", "not issued by a certificate authority this site accepts"),
    ("no_eku", "no_client_auth", "not a client authentication certificate"),
    ("email_only", "no_client_auth", "not a client authentication certificate"),
])
def test_app_revalidates_what_a_trusted_proxy_passes(proxy_sites: dict[str, Site], test_pki: pki.TestPki,
                                                     card: str, code: str, text: str) -> None:
    """Even mapped certificates (erin's expired and rogue ones) are refused: the proxy is not trusted blindly."""
    site = proxy_sites["trusted"]
    before = site.sessions()
    with via_proxy(site, getattr(test_pki, card)) as browser:
        response = browser.get("/signin/piv")
        assert response.status_code == 403 and text in response.text
        assert signed_in_as(browser) is None
    assert site.sessions() == before
    event = last_signin(site)
    assert event["outcome"] == "denied" and str(event["reason"]).startswith(code)


def test_certificate_header_from_untrusted_address_is_ignored_and_audited(proxy_sites: dict[str, Site],
                                                                          test_pki: pki.TestPki) -> None:
    site = proxy_sites["untrusted"]
    with via_proxy(site, test_pki.alice) as browser:
        response = browser.get("/signin/piv")
        assert response.status_code == 403 and "No smart card certificate" in response.text
        assert signed_in_as(browser) is None
    header_events = site.audit("signin.piv.header")
    assert header_events and header_events[-1]["outcome"] == "denied"
    assert "127.0.0.1" in str(header_events[-1]["details"])
    assert site.sessions() == 0


def test_forwarded_for_cannot_make_a_stranger_look_like_the_trusted_proxy(test_pki: pki.TestPki,
                                                                          tmp_path: Path) -> None:
    """uvicorn rewrites the client address from X-Forwarded-For (web_forwarded_allow_ips); the
    certificate header is still judged by the TCP peer: 127.0.0.1 here, not the claimed 10.9.9.9."""
    settings = site_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", {
        "VOICEMAIL_WEB_CLIENT_CERT_HEADER": HEADER, "VOICEMAIL_WEB_TRUSTED_PROXIES": "10.0.0.0/8",
        "VOICEMAIL_WEB_FORWARDED_ALLOW_IPS": "127.0.0.1", "VOICEMAIL_WEB_CLIENT_CA_FILE": str(test_pki.ca_file),
        "VOICEMAIL_WEB_COOKIE_SECURE": "false"})
    with serve(settings) as site:
        add_people(site, test_pki)
        with via_proxy(site, test_pki.alice) as browser:
            response = browser.get("/signin/piv", headers={"X-Forwarded-For": "10.9.9.9"})
            assert response.status_code == 403
            assert signed_in_as(browser) is None
        event = site.audit("signin.piv.header")[-1]
        assert '"peer":"127.0.0.1"' in str(event["details"]) and event["source"] == "10.9.9.9"


def test_card_of_a_disabled_account_is_refused(proxy_sites: dict[str, Site], test_pki: pki.TestPki) -> None:
    from sqlalchemy import update

    from voicemail.web.tables import web_accounts

    site = proxy_sites["trusted"]
    frank = pki.issue(test_pki.root, "FRANK.F.FOX.1000000010")
    site.accounts.add("frank", roles=["owner"])
    IdentityStore(site.engine).map("piv", f"sha256:{fingerprint(frank.cert)}", "frank")
    with site.engine.begin() as conn:
        conn.execute(update(web_accounts).where(web_accounts.c.username == "frank").values(disabled=True))
    with via_proxy(site, frank) as browser:
        response = browser.get("/signin/piv")
        assert response.status_code == 403 and "disabled" in response.text
        assert signed_in_as(browser) is None
    assert last_signin(site)["reason"] == "disabled"


def test_required_mode_refuses_connections_without_a_card(test_pki: pki.TestPki, tmp_path: Path) -> None:
    cert, key = test_pki.server.write(tmp_path, "server")
    settings = site_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", {
        "VOICEMAIL_WEB_TLS_CERT": str(cert), "VOICEMAIL_WEB_TLS_KEY": str(key),
        "VOICEMAIL_WEB_CLIENT_CERT_MODE": "required", "VOICEMAIL_WEB_CLIENT_CA_FILE": str(test_pki.ca_file)})
    with serve(settings) as site:
        add_people(site, test_pki)
        with card_client(site, test_pki, None, tmp_path) as no_card, pytest.raises(httpx.TransportError):
            no_card.get("/healthz")
        with card_client(site, test_pki, test_pki.alice, tmp_path) as browser:
            assert browser.get("/signin/piv").status_code == 303
            assert signed_in_as(browser) == "alice"


def test_card_sign_in_attempts_are_rate_limited_per_address(test_pki: pki.TestPki, tmp_path: Path) -> None:
    settings = site_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", {
        "VOICEMAIL_WEB_CLIENT_CERT_HEADER": HEADER, "VOICEMAIL_WEB_TRUSTED_PROXIES": "127.0.0.1/32",
        "VOICEMAIL_WEB_CLIENT_CA_FILE": str(test_pki.ca_file), "VOICEMAIL_WEB_COOKIE_SECURE": "false",
        "VOICEMAIL_WEB_SIGNIN_RATE_LIMIT": "3"})
    with serve(settings) as site:
        add_people(site, test_pki)
        with via_proxy(site, test_pki.bob) as stranger:
            assert [stranger.get("/signin/piv").status_code for _ in range(3)] == [403, 403, 403]
        with via_proxy(site, test_pki.alice) as browser:
            response = browser.get("/signin/piv")  # even a good card, from the same address
            assert response.status_code == 429 and "Too many sign-in attempts" in response.text
            assert int(response.headers["retry-after"]) > 0
            assert signed_in_as(browser) is None
        assert last_signin(site)["reason"] == "rate limited"
