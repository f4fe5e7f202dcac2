"""Changing one's own password: the current one is required (a wrong one is audited and counts towards
the lockout), the new one is stored as argon2id, every other session ends, this browser stays signed in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.integration.web.test_web_pages import token_in
from tests.integration.web.web_harness import BASE, PASSWORD, WebSite, web_site

NEW = "a brand new passphrase 42"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebSite]:
    with web_site(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}") as s:
        yield s


def signed_in(site: WebSite, password: str = PASSWORD) -> TestClient:
    client = site.client()
    page = client.get("/signin").text
    r = client.post("/signin", data={"username": "alice", "password": password, "totp": "",
                                     "csrf_token": token_in(page)}, headers={"Origin": BASE}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/", r.text[:300]
    return client


def change(client: TestClient, current: str, new: str, again: str | None = None) -> tuple[int, str]:
    page = client.get("/settings").text
    r = client.post("/settings/password", data={"csrf_token": token_in(page), "current_password": current,
                                                 "new_password": new, "new_password_again": again or new},
                    headers={"Origin": BASE}, follow_redirects=False)
    return r.status_code, r.headers.get("location", "") or r.text


def test_owner_changes_their_password_and_other_sessions_end(site: WebSite) -> None:
    here, elsewhere = signed_in(site), signed_in(site)
    before = site.deps.audit.head().seq
    status, where = change(here, PASSWORD, NEW)
    assert status == 303 and where == "/settings?n=password"
    page = here.get(where)
    assert page.status_code == 200 and "Password changed." in page.text  # this browser is still signed in
    assert elsewhere.get("/", follow_redirects=False).status_code == 303  # sent to sign in
    stored = site.deps.accounts.by_username("alice")
    assert stored is not None and stored.password_hash is not None and stored.password_hash.startswith("$argon2id$")
    signed_in(site, NEW)
    with pytest.raises(AssertionError):
        signed_in(site, PASSWORD)
    events = [(e.action, e.outcome) for e in site.deps.audit.events(actor="alice") if e.seq > before]
    assert ("password.change", "ok") in events


@pytest.mark.parametrize(("current", "new", "again", "said"), [
    ("not my password at all", NEW, NEW, "Your current password is not right."),
    (PASSWORD, "short", "short", "The new password must be 12 to 1024 characters long."),
    (PASSWORD, NEW, NEW + "x", "The two new passwords are not the same."),
    (PASSWORD, PASSWORD, PASSWORD, "The new password must differ from the current one."),
])
def test_a_refused_change_is_explained_and_changes_nothing(site: WebSite, current: str, new: str, again: str,
                                                           said: str) -> None:
    client = signed_in(site)
    other = signed_in(site)
    before = site.deps.audit.head().seq
    status, page = change(client, current, new, again)
    assert status == 400 and said in page and 'role="alert"' in page
    assert other.get("/").status_code == 200  # nobody signed out
    signed_in(site, PASSWORD)  # the old password still works
    refused = [e for e in site.deps.audit.events(actor="alice") if e.seq > before and e.action == "password.change"]
    assert [e.outcome for e in refused] == (["denied"] if "current" in said and "not right" in said else [])


def test_wrong_current_passwords_lock_the_account_like_failed_sign_ins(site: WebSite) -> None:
    client = signed_in(site)
    for _ in range(site.deps.settings.lockout_threshold):
        assert change(client, "guessing wrong each time", NEW)[0] == 400
    lockouts = [e for e in site.deps.audit.events(actor="alice") if e.action == "lockout"]
    assert lockouts
    with pytest.raises(AssertionError):
        signed_in(site, PASSWORD)
