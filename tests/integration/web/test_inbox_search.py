"""Searching the inbox by caller and by date: an owner finds outside callers by the name or number they
sent; an administrator, who may not see outside callers, cannot find them by searching either; the dates
are whole days in the viewer's time zone; a wrong date is explained and changes nothing."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import update

from tests.integration.pipeline.harness import make_wav
from tests.integration.web.test_web_pages import form_sign_in
from tests.integration.web.web_harness import WebSite, sign_in, web_site
from voicemail.db.models import MessageRow

OUTSIDE = '"Zed Outsider" <+12025550199>'


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("search")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}") as s:
        yield s


@pytest.fixture(scope="module")
def left(site: WebSite) -> dict[str, str]:
    box = site.box
    ids = {
        "internal": box.leave("1001@default", make_wav(1.0, 81), callerid='"Bob Internal" <1002>',
                              context="vm-internal"),
        "outside": box.leave("1001@default", make_wav(1.0, 82), callerid=OUTSIDE, context="vm-from-trunk"),
        "withheld": box.leave("1001@default", make_wav(1.0, 83), callerid=None, context="vm-from-trunk"),
        "january": box.leave("1001@default", make_wav(1.0, 84), callerid='"Bob Internal" <1002>',
                             context="vm-internal"),
    }
    jan_15 = int(dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.UTC).timestamp())  # 16 January in Berlin
    with box.container.store._sessions.begin() as s:  # a message from last winter
        s.execute(update(MessageRow).where(MessageRow.id == ids["january"]).values(origtime=jan_15))
    return ids


def listed(html: str) -> set[str]:
    return set(re.findall(r'data-message-id="([0-9a-f-]{36})"', html))


def test_owner_finds_an_outside_caller_by_the_name_or_number_they_sent(site: WebSite,
                                                                       left: dict[str, str]) -> None:
    owner = site.client()
    form_sign_in(owner, "alice")
    for term in ("zed", "ZED OUTSIDER", "202 555 0199", "+1 (202) 555-0199", "0199"):
        found = listed(owner.get("/", params={"who": term}).text)
        assert found == {left["outside"]}, term
    assert listed(owner.get("/", params={"who": "bob internal"}).text) == {left["internal"], left["january"]}
    assert listed(owner.get("/", params={"who": "1002"}).text) == {left["internal"], left["january"]}


def test_search_text_is_taken_literally(site: WebSite, left: dict[str, str]) -> None:
    owner = site.client()
    form_sign_in(owner, "alice")
    for term in ("%", "_", "Bob%Internal", "\\"):
        page = owner.get("/", params={"who": term}).text
        assert listed(page) == set(), term
        assert "No messages match your search." in page


def test_administrator_cannot_find_an_outside_caller_by_searching(site: WebSite, left: dict[str, str]) -> None:
    admin = site.client()
    form_sign_in(admin, "admin")
    for term in ("zed", "Outsider", "0199", "+12025550199"):
        page = admin.get("/", params={"mailbox": "1001@default", "who": term}).text
        assert listed(page) == set(), term
        assert "Zed" not in page and "0199" not in page.replace(term, "")
    found = listed(admin.get("/", params={"mailbox": "1001@default", "who": "bob"}).text)
    assert found == {left["internal"], left["january"]}


def test_withheld_callers_are_not_found_by_caller_text(site: WebSite, left: dict[str, str]) -> None:
    owner = site.client()
    form_sign_in(owner, "alice")
    for term in ("anonymous", "withheld", "unknown"):
        assert left["withheld"] not in listed(owner.get("/", params={"who": term}).text)


def test_date_range_is_whole_days_in_the_viewers_time_zone(site: WebSite, left: dict[str, str]) -> None:
    owner = site.client()
    form_sign_in(owner, "alice")
    assert listed(owner.get("/", params={"from": "2026-01-15", "to": "2026-01-15"}).text) == {left["january"]}
    token = sign_in(owner, "alice")
    r = owner.put("/api/v1/me/settings", json={"notify_address": "", "timezone": "Europe/Berlin", "language": "en"},
                  headers={"X-CSRF-Token": token, "Origin": "https://testserver"})
    assert r.status_code == 200, r.text
    try:
        # 23:30 UTC on 15 January is 00:30 on 16 January in Berlin
        assert listed(owner.get("/", params={"from": "2026-01-15", "to": "2026-01-15"}).text) == set()
        assert listed(owner.get("/", params={"from": "2026-01-16", "to": "2026-01-16"}).text) == {left["january"]}
        recent = listed(owner.get("/", params={"from": "2026-02-01"}).text)
        assert left["january"] not in recent and left["outside"] in recent
        assert listed(owner.get("/", params={"to": "2026-01-31"}).text) == {left["january"]}
    finally:
        owner.put("/api/v1/me/settings", json={"notify_address": "", "timezone": "UTC", "language": "en"},
                  headers={"X-CSRF-Token": token, "Origin": "https://testserver"})


def test_caller_and_date_combine(site: WebSite, left: dict[str, str]) -> None:
    owner = site.client()
    form_sign_in(owner, "alice")
    assert listed(owner.get("/", params={"who": "bob", "to": "2026-01-31"}).text) == {left["january"]}
    assert listed(owner.get("/", params={"who": "zed", "to": "2026-01-31"}).text) == set()


@pytest.mark.parametrize(("params", "said"), [
    ({"from": "15.01.2026"}, "The 'from' date must be a date written like 2026-12-04."),
    ({"to": "2026-02-30"}, "The 'to' date must be a date written like 2026-12-04."),
    ({"from": "2026-02-02", "to": "2026-02-01"}, "The 'from' date is after the 'to' date."),
])
def test_a_wrong_date_is_explained_on_the_page(site: WebSite, left: dict[str, str], params: dict[str, str],
                                               said: str) -> None:
    owner = site.client()
    form_sign_in(owner, "alice")
    r = owner.get("/", params=params)
    assert r.status_code == 200
    assert f'<p id="search-error" class="error" role="alert">{said}</p>' in r.text.replace("&#39;", "'")
    assert listed(r.text) == set()


def test_api_searches_too_and_refuses_a_wrong_date(site: WebSite, left: dict[str, str]) -> None:
    client = site.client()
    sign_in(client, "alice")
    r = client.get("/api/v1/mailboxes/default/1001/messages", params={"search": "zed"})
    assert r.status_code == 200 and [m["id"] for m in r.json()["items"]] == [left["outside"]]
    assert r.json()["total"] == 1
    bad = client.get("/api/v1/mailboxes/default/1001/messages", params={"from": "yesterday"})
    assert bad.status_code == 400 and "2026-12-04" in bad.text
