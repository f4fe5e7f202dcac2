"""Several messages at once from the inbox: mark read, mark unread, delete (after a confirmation), each
message checked, changed over AMI and audited on its own; another owner's message in the selection is
refused (audited) and the rest is still done; the API does the same."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.integration.web.test_web_pages import form_sign_in, token_in
from tests.integration.web.web_harness import BASE, WebSite, sign_in, web_site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("bulk")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}") as s:
        yield s


def post_selected(client: TestClient, action: str, ids: list[str], back: str = "/") -> tuple[int, str]:
    form = client.get("/").text
    r = client.post("/inbox/selected", data={"csrf_token": token_in(form), "action": action, "ids": ids,
                                             "back": back}, headers={"Origin": BASE}, follow_redirects=False)
    return r.status_code, r.headers.get("location", "") or r.text


def folder(client: TestClient, mid: str) -> str:
    r = client.get(f"/api/v1/messages/{mid}")
    return str(r.json()["folder"]) if r.status_code == 200 else "gone"


def test_owner_marks_several_messages_read_then_unread(site: WebSite) -> None:
    ids = [site.leave(seed=s)[0] for s in (101, 102, 103)]
    keep = site.leave(seed=104)[0]
    client = site.client()
    form_sign_in(client, "alice")
    inbox = client.get("/").text
    for mid in ids:
        assert f'name="ids" value="{mid}"' in inbox
    before = site.deps.audit.head().seq
    status, where = post_selected(client, "read", ids, back="/?folder=INBOX&page=2")
    assert status == 303 and where.startswith("/?folder=INBOX&") and "b=read.3.0" in where and "page=" not in where
    assert "3 messages marked as read." in client.get(where).text
    assert [folder(client, m) for m in ids] == ["Old"] * 3 and folder(client, keep) == "INBOX"
    marks = [e for e in site.deps.audit.events(actor="alice") if e.seq > before and e.action == "message.mark"]
    assert sorted((e.message_id for e in marks), key=str) == sorted(ids) and all(e.outcome == "ok" for e in marks)
    assert post_selected(client, "unread", ids[:2])[1].endswith("b=unread.2.0")
    assert [folder(client, m) for m in ids] == ["INBOX", "INBOX", "Old"]


def test_delete_asks_first_then_deletes_only_the_selected(site: WebSite) -> None:
    ids = [site.leave(seed=s)[0] for s in (111, 112)]
    keep = site.leave(seed=113)[0]
    client = site.client()
    form_sign_in(client, "alice")
    status, page = post_selected(client, "delete", ids)
    assert status == 200 and "<h1>Delete 2 messages?</h1>" in page
    assert [folder(client, m) for m in ids] == ["INBOX", "INBOX"]  # nothing yet
    r = client.post("/inbox/selected", data={"csrf_token": token_in(page), "action": "delete-confirmed",
                                             "ids": ids, "back": "/"}, headers={"Origin": BASE},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("b=delete.2.0")
    assert [folder(client, m) for m in ids] == ["gone", "gone"] and folder(client, keep) == "INBOX"


def test_another_owners_message_in_the_selection_is_refused_and_the_rest_done(site: WebSite) -> None:
    mine = site.leave(seed=121)[0]
    theirs = site.leave("1002@default", seed=122)[0]
    client = site.client()
    form_sign_in(client, "alice")
    before = site.deps.audit.head().seq
    status, where = post_selected(client, "read", [mine, theirs])
    assert status == 303 and where.endswith("b=read.1.1")
    assert "1 message marked as read; 1 could not be changed." in client.get(where).text
    bob = site.client()
    sign_in(bob, "bob")
    assert folder(bob, theirs) == "INBOX"
    refused = [e for e in site.deps.audit.events(actor="alice") if e.seq > before and e.outcome == "denied"]
    assert [(e.action, e.message_id) for e in refused] == [("message.mark", theirs)]


def test_nothing_selected_is_explained_and_changes_nothing(site: WebSite) -> None:
    client = site.client()
    form_sign_in(client, "alice")
    status, where = post_selected(client, "read", [])
    assert status == 303 and "Select at least one message first." in client.get(where).text


def test_administrator_gets_no_selection_and_cannot_post_one(site: WebSite) -> None:
    mid = site.leave(seed=131)[0]
    admin = site.client()
    form_sign_in(admin, "admin")
    assert 'name="ids"' not in admin.get("/?mailbox=1001@default").text
    token = token_in(admin.get("/?mailbox=1001@default").text)
    r = admin.post("/inbox/selected", data={"csrf_token": token, "action": "read", "ids": [mid], "back": "/"},
                   headers={"Origin": BASE}, follow_redirects=False)
    assert r.status_code == 404


def test_return_address_stays_on_the_inbox(site: WebSite) -> None:
    mid = site.leave(seed=141)[0]
    client = site.client()
    form_sign_in(client, "alice")
    for back in ("https://evil.example/", "//evil.example/", "/settings"):
        status, where = post_selected(client, "unread", [mid], back=back)
        assert status == 303 and re.fullmatch(r"/\?b=unread\.1\.0", where), where


def test_api_changes_several_and_reports_each(site: WebSite) -> None:
    mine = [site.leave(seed=s)[0] for s in (151, 152)]
    theirs = site.leave("1002@default", seed=153)[0]
    client = site.client()
    token = sign_in(client, "alice")
    r = client.post("/api/v1/messages/bulk", json={"action": "read", "ids": [*mine, theirs]},
                    headers={"X-CSRF-Token": token, "Origin": BASE})
    assert r.status_code == 200
    assert r.json() == {"action": "read", "done": mine, "failed": [theirs]}
    bad = client.post("/api/v1/messages/bulk", json={"action": "read", "ids": ["../etc"]},
                      headers={"X-CSRF-Token": token, "Origin": BASE})
    assert bad.status_code == 400
