"""The server-rendered pages, used as a browser without JavaScript would: plain forms with csrf_token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.integration.pipeline.harness import make_wav
from tests.integration.web.web_harness import BASE, PASSWORD, WebSite, web_site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("pages")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}", phone_device_template="PJSIP/{mailbox}",
                  phone_ring_timeout=5.0) as s:
        yield s


def token_in(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf_token field"
    return m.group(1)


def form_sign_in(client: TestClient, username: str) -> None:
    page = client.get("/signin")
    assert page.status_code == 200
    r = client.post("/signin", data={"username": username, "password": PASSWORD, "totp": "",
                                     "csrf_token": token_in(page.text)}, headers={"Origin": BASE},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_pages_redirect_to_sign_in_when_signed_out(site: WebSite) -> None:
    client = site.client()
    for path in ("/", "/calls", "/settings", "/messages/00000000-0000-4000-8000-000000000000"):
        r = client.get(path, follow_redirects=False)
        expected = "/signin" if path == "/" else "/signin?next=" + quote(path, safe="")
        assert r.status_code == 303 and r.headers["location"] == expected, path


def test_sign_in_page_has_the_labelled_fields(site: WebSite) -> None:
    html = site.client().get("/signin").text
    assert '<html lang="en">' in html
    for field in ("username", "password", "totp"):
        assert f'<label for="{field}"' in html and f'id="{field}"' in html
    assert ">Sign in</button>" in html and 'href="#main"' in html


def test_owner_reads_marks_plays_and_deletes_through_forms(site: WebSite) -> None:
    mid, _ = site.leave(seed=41)
    client = site.client()
    form_sign_in(client, "alice")
    inbox = client.get("/")
    assert inbox.status_code == 200
    assert f'href="/messages/{mid}"' in inbox.text and '<th scope="col">Received</th>' in inbox.text
    player = client.get(f"/messages/{mid}")
    assert f'<audio id="player" controls preload="none" src="/api/v1/messages/{mid}/audio"' in player.text
    token = token_in(player.text)

    def post(path: str) -> str:
        r = client.post(path, data={"csrf_token": token}, headers={"Origin": BASE}, follow_redirects=False)
        assert r.status_code == 303, (path, r.status_code, r.text[:200])
        return str(r.headers["location"])

    assert post(f"/messages/{mid}/read") == f"/messages/{mid}?n=read"
    page = client.get(f"/messages/{mid}?n=read").text
    assert "Marked as read." in page and ">Mark as unread</button>" in page
    assert post(f"/messages/{mid}/unread") == f"/messages/{mid}?n=unread"
    assert post(f"/messages/{mid}/play").startswith(f"/messages/{mid}?call=")
    confirm = client.get(f"/messages/{mid}/delete")
    assert confirm.status_code == 200 and "Delete this message?" in confirm.text
    assert post(f"/messages/{mid}/delete") == "/?n=deleted"
    assert client.get(f"/messages/{mid}").status_code == 404
    r = client.post("/signout", data={"csrf_token": token}, headers={"Origin": BASE}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_administrator_sees_the_player_page_without_audio_or_actions(site: WebSite) -> None:
    mid, _ = site.leave(seed=42)
    client = site.client()
    form_sign_in(client, "admin")
    page = client.get(f"/messages/{mid}")
    assert page.status_code == 200
    assert "<audio" not in page.text and "Mark as read" not in page.text
    assert client.get(f"/messages/{mid}/delete").status_code == 404
    listing = client.get("/?mailbox=1001@default")
    assert f'href="/messages/{mid}"' in listing.text
    assert client.get("/?mailbox=..%2F1001@default").status_code == 400


def test_other_owner_gets_not_found_pages(site: WebSite) -> None:
    mid, _ = site.leave(seed=43)
    client = site.client()
    form_sign_in(client, "bob")
    assert client.get(f"/messages/{mid}").status_code == 404
    assert client.get("/?mailbox=1001@default").status_code == 404
    token = token_in(client.get("/").text)
    r = client.post(f"/messages/{mid}/delete", data={"csrf_token": token}, headers={"Origin": BASE})
    assert r.status_code == 404


def test_settings_page_saves_own_settings_and_inbox_uses_the_time_zone(site: WebSite) -> None:
    _mid, _ = site.leave(seed=44)
    client = site.client()
    form_sign_in(client, "alice")
    page = client.get("/settings")
    r = client.post("/settings", data={"csrf_token": token_in(page.text), "notify_address": "a@example.test",
                                       "timezone": "Asia/Tokyo", "language": "en-US"},
                    headers={"Origin": BASE}, follow_redirects=False)
    assert r.status_code == 303
    saved = client.get("/settings?n=saved").text
    assert 'value="Asia/Tokyo"' in saved and "Settings saved." in saved
    assert '<option value="en-US" lang="en-US" selected>' in saved and '<html lang="en">' in saved
    assert "JST" in client.get("/").text
    bad = client.post("/settings", data={"csrf_token": token_in(saved), "timezone": "Mars/Base"},
                      headers={"Origin": BASE})
    assert bad.status_code == 400 and 'role="alert"' in bad.text


def test_call_history_page_renders(site: WebSite) -> None:
    client = site.client()
    form_sign_in(client, "alice")
    r = client.get("/calls")
    assert r.status_code == 200 and "<h1>Call history</h1>" in r.text


def test_owner_sees_an_outside_callers_number_and_the_administrator_does_not(site: WebSite) -> None:
    mid = site.box.leave("1001@default", make_wav(1.0, 45), callerid="+12025550188", context="vm-from-trunk")
    owner = site.client()
    form_sign_in(owner, "alice")
    assert "+12025550188" in owner.get(f"/messages/{mid}").text
    admin = site.client()
    form_sign_in(admin, "admin")
    listing = admin.get("/?mailbox=1001@default").text
    assert f'href="/messages/{mid}"' in listing and "+12025550188" not in listing and "Outside caller" in listing
    assert "+12025550188" not in admin.get(f"/messages/{mid}").text


def test_owner_changes_the_phone_pin_on_the_settings_page(site: WebSite) -> None:
    from voicemail.domain.models import MailboxRef

    client = site.client()
    form_sign_in(client, "bob")
    page = client.get("/settings")
    assert '<label for="pin">New PIN</label>' in page.text and 'action="/settings/phone-pin"' in page.text
    token = token_in(page.text)

    def post(pin: str, again: str, mailbox: str = "") -> tuple[int, str]:
        r = client.post("/settings/phone-pin", data={"csrf_token": token, "pin": pin, "pin_again": again,
                                                     "mailbox": mailbox},
                        headers={"Origin": BASE}, follow_redirects=False)
        return r.status_code, r.headers.get("location", "") or r.text

    status, body = post("123456", "123456")
    assert status == 400 and "too easy to guess" in body
    status, body = post("583920", "583921")
    assert status == 400 and "not the same" in body
    assert post("583920", "583920", "1001@default")[0] == 404  # not bob's mailbox
    assert post("583920", "583920") == (303, "/settings?n=pin")
    pins = site.deps.pins
    assert pins is not None
    assert pins.verify(MailboxRef("default", "1002"), "583920", source="test") == "ok"
    sets = [e for e in site.deps.audit.iter_all() if e.action == "phone.pin.set"]
    assert [(e.actor, e.outcome) for e in sets] == [("bob", "ok")] and "583920" not in sets[0].details
