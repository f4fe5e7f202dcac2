"""The inbox pages as the owner and an administrator get them: the caller's verification on every row
and on the message page, the way back to a requested page after sign-in, the unread count."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.integration.pipeline.harness import make_wav
from tests.integration.web.test_web_pages import form_sign_in, token_in
from tests.integration.web.web_harness import BASE, PASSWORD, WebSite, web_site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("inbox")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}") as s:
        yield s


def row_of(html: str, mid: str) -> str:
    m = re.search(rf'<tr [^>]*data-message-id="{mid}".*?</tr>', html, re.S)
    assert m, f"no row for {mid}"
    return m.group(0)


def test_outside_caller_sending_a_colleagues_name_is_marked_unverified(site: WebSite) -> None:
    real = site.box.leave("1001@default", make_wav(1.0, 61), callerid='"Bob Internal" <1002>', context="vm-internal")
    fake = site.box.leave("1001@default", make_wav(1.0, 62), callerid='"Bob Internal" <1002>',
                          context="vm-from-trunk")
    owner = site.client()
    form_sign_in(owner, "alice")
    inbox = owner.get("/").text
    real_row = row_of(inbox, real)
    assert "Bob Internal (1002)" in real_row and "Internal · verified by the directory" in real_row
    fake_row = row_of(inbox, fake)
    assert "Bob Internal (1002)" not in fake_row
    assert "Caller says “Bob Internal” (1002)" in fake_row and "Outside · not verified" in fake_row
    page = owner.get(f"/messages/{fake}").text
    assert "Message from an outside caller" in page and "Outside · not verified" in page
    assert "Caller says “Bob Internal” (1002)" in page and "anyone can send any name or number" in page
    assert "Internal · verified by the directory" in owner.get(f"/messages/{real}").text
    # the administrator still does not learn who called from outside; the mark is still there
    admin = site.client()
    form_sign_in(admin, "admin")
    admin_row = row_of(admin.get("/?mailbox=1001@default").text, fake)
    assert "Bob Internal" not in admin_row and "1002" not in admin_row
    assert "Outside caller" in admin_row and "Outside · not verified" in admin_row


def test_a_link_to_a_message_returns_there_after_sign_in(site: WebSite) -> None:
    mid = site.box.leave("1001@default", make_wav(1.0, 63))
    client = site.client()
    r = client.get(f"/messages/{mid}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=" + quote(f"/messages/{mid}", safe="")
    form = client.get(r.headers["location"]).text
    assert f'name="next" value="/messages/{mid}"' in form
    done = client.post("/signin", data={"username": "alice", "password": PASSWORD, "totp": "",
                                        "next": f"/messages/{mid}", "csrf_token": token_in(form)},
                       headers={"Origin": BASE}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/messages/{mid}"
    # already signed in: /signin?next= goes straight there
    again = client.get(f"/signin?next=/messages/{mid}", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"/messages/{mid}"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "/%2F%2Fevil.example", "/%5Cevil.example", "/%252F%252Fevil.example"])
def test_sign_in_never_sends_anyone_to_another_site(site: WebSite, target: str) -> None:
    client = site.client()
    form = client.get("/signin", params={"next": target}).text
    assert "evil.example" not in form
    done = client.post("/signin", data={"username": "alice", "password": PASSWORD, "totp": "", "next": target,
                                        "csrf_token": token_in(form)}, headers={"Origin": BASE},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/"
    signed_in = client.get("/signin", params={"next": target}, follow_redirects=False)
    assert signed_in.headers["location"] == "/"


def test_unread_count_in_the_title_and_the_navigation(site: WebSite) -> None:
    client = site.client()
    form_sign_in(client, "bob")
    before = client.get("/settings").text
    count = int(m.group(1)) if (m := re.search(r"<title>\((\d+) new\)", before)) else 0
    mid = site.box.leave("1002@default", make_wav(1.0, 64))
    after = client.get("/settings").text
    assert f"<title>({count + 1} new) Settings" in after
    assert f'<span class="count">{count + 1} new</span>' in after
    assert site.box.leave("1002@default", make_wav(1.0, 65)) != mid
    inbox = client.get("/").text
    assert f"({count + 2} new) Inbox" in inbox and "New</strong>" in row_of(inbox, mid)


def test_urgent_and_status_are_words_on_every_row(site: WebSite) -> None:
    client: TestClient = site.client()
    form_sign_in(client, "alice")
    html = client.get("/").text
    assert 'data-label="Urgent"' in html and 'data-label="Status"' in html
    assert re.search(r"Today \d\d:\d\d:\d\d UTC|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", html)


def test_new_messages_endpoint_tells_an_open_inbox_what_arrived(site: WebSite) -> None:
    client = site.client()
    assert client.get("/api/v1/me/new-messages", headers={"Accept": "application/json"}).status_code == 401
    form_sign_in(client, "bob")
    before = client.get("/api/v1/me/new-messages").json()
    inbox = client.get("/").text
    assert 'data-poll-seconds="25"' in inbox and f'data-newest="{before["newest"] or 0}"' in inbox
    site.box.leave("1002@default", make_wav(1.0, 66))
    after = client.get("/api/v1/me/new-messages").json()
    assert after["new"] == before["new"] + 1 and after["newest"] >= (before["newest"] or 0)
    admin = site.client()
    form_sign_in(admin, "admin")  # owns no mailbox: nothing is new for them
    assert admin.get("/api/v1/me/new-messages").json() == {"new": 0, "newest": None}
