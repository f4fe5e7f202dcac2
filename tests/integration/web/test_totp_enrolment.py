"""Enrolling one's own second factor: the current password first (no secret is shown before it is right),
then the secret, which changes nothing until a code from the app confirms it; then sign-in asks for a
code; the confirming code cannot be used again; a token from another session, altered or too old is
refused; audited as totp.enrol."""

from __future__ import annotations

import base64
import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.integration.web.test_web_pages import token_in
from tests.integration.web.web_harness import BASE, PASSWORD, WebSite, web_site
from voicemail.web.auth import totp


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebSite]:
    with web_site(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}") as s:
        yield s


def signed_in(site: WebSite, code: str = "") -> TestClient:
    client = site.client()
    page = client.get("/signin").text
    r = client.post("/signin", data={"username": "alice", "password": PASSWORD, "totp": code,
                                     "csrf_token": token_in(page)}, headers={"Origin": BASE}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/", "sign-in refused"
    return client


def password_step(client: TestClient, password: str = PASSWORD) -> tuple[int, str]:
    first = client.get("/settings/two-step").text
    r = client.post("/settings/two-step/start", data={"csrf_token": token_in(first), "current_password": password},
                    headers={"Origin": BASE}, follow_redirects=False)
    return r.status_code, r.text


def enrolment_page(client: TestClient) -> tuple[str, bytes, str]:
    """(page, the secret's key bytes as the app would hold them, the form's token)."""
    status, page = password_step(client)
    assert status == 200
    shown = re.search(r'data-testid="totp-uri">([^<]+)<', page)
    assert shown is not None
    uri = html.unescape(shown.group(1))
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    form_token = re.search(r'name="token" value="([^"]+)"', page)
    assert form_token is not None
    return page, base64.b32decode(secret), form_token.group(1)


def confirm(client: TestClient, page: str, token: str, code: str) -> tuple[int, str]:
    r = client.post("/settings/two-step", data={"csrf_token": token_in(page), "token": token, "code": code},
                    headers={"Origin": BASE}, follow_redirects=False)
    return r.status_code, r.headers.get("location", "") or r.text


def code_for(key: bytes) -> str:
    return totp.current_code(key + b"\0" * 12, time.time())


def test_the_password_comes_before_any_secret(site: WebSite) -> None:
    client = signed_in(site)
    first = client.get("/settings/two-step").text
    assert 'name="current_password"' in first
    assert "<svg" not in first and "otpauth://" not in first and 'name="token"' not in first
    before = site.deps.audit.head().seq
    status, refused = password_step(client, "not the password")
    assert status == 400 and "Your current password is not right." in refused
    assert "<svg" not in refused and "otpauth://" not in refused and 'name="token"' not in refused
    events = [(e.action, e.outcome) for e in site.deps.audit.events(actor="alice") if e.seq > before]
    assert events == [("totp.enrol", "denied")]


def test_the_page_shows_a_qr_code_and_the_key_and_changes_nothing(site: WebSite) -> None:
    client = signed_in(site)
    page, key, _ = enrolment_page(client)
    assert "<svg" in page and 'data-testid="totp-qr"' in page
    assert 'name="current_password"' not in page  # asked already
    assert base64.b32encode(key).decode() in page
    assert enrolment_page(client)[0] != page  # a new secret each time the password is confirmed
    account = site.deps.accounts.by_username("alice")
    assert account is not None and not account.totp_enabled
    signed_in(site)  # still no code asked


def test_a_code_and_the_password_turn_it_on_and_sign_in_then_asks_for_a_code(site: WebSite) -> None:
    client = signed_in(site)
    page, key, token = enrolment_page(client)
    before = site.deps.audit.head().seq
    code = code_for(key)
    status, where = confirm(client, page, token, code)
    assert status == 303 and where == "/settings?n=totp"
    assert "Two-step sign-in is on." in client.get(where).text
    with pytest.raises(AssertionError):
        signed_in(site)  # no code: refused
    with pytest.raises(AssertionError):
        signed_in(site, code)  # the confirming code is used up
    events = [(e.action, e.outcome) for e in site.deps.audit.events(actor="alice") if e.seq > before]
    assert ("totp.enrol", "ok") in events


@pytest.mark.parametrize("wrong", ["code", "token", "other-session", "too-old"])
def test_a_wrong_confirmation_changes_nothing(site: WebSite, wrong: str) -> None:
    client = signed_in(site)
    page, key, token = enrolment_page(client)
    code = code_for(key)
    if wrong == "code":
        code = "000000" if code != "000000" else "111111"
    elif wrong == "token":
        kek, blob, issued = token.split(".")
        token = f"{kek}.{blob[:-4] + ('AAAA' if not blob.endswith('AAAA') else 'BBBB')}.{issued}"
    elif wrong == "too-old":  # the code comes more than ten minutes after the password
        issued_at = float(token.rsplit(".", 1)[1])
        site.deps.clock = lambda: issued_at + 601
    else:  # a token shown to another session of the same person
        _, _, token = enrolment_page(signed_in(site))
    status, text = confirm(client, page, token, code)
    assert status == 400 and 'role="alert"' in text
    if wrong == "code":  # the same secret again, to try the code the app shows now
        assert base64.b32encode(key).decode() in text and token in text
    else:  # back to the password: no secret shown
        assert 'name="current_password"' in text and "otpauth://" not in text
    account = site.deps.accounts.by_username("alice")
    assert account is not None and not account.totp_enabled
    signed_in(site)
