"""What the inbox pages show: the caller with how far it is verified, where sign-in returns to, page
numbers and times to the second."""

from __future__ import annotations

import datetime as dt

import pytest

from voicemail.domain.mailbox import InboxItem
from voicemail.domain.models import MailboxRef
from voicemail.web.caller_display import caller_display, caller_label
from voicemail.web.next_url import safe_next, signin_url
from voicemail.web.pager import page_count, page_links
from voicemail.web.render import local_time

BOX = MailboxRef("default", "1001")


def item(kind: str, name: str | None, number: str | None) -> InboxItem:
    return InboxItem(id="m", mailbox=BOX, folder="INBOX", received_at=0, duration=3, urgent=False,
                     caller_kind=kind, caller_name=name, caller_number=number)


def test_outside_caller_claiming_a_colleagues_name_does_not_look_like_the_colleague() -> None:
    real = caller_display(item("internal", "Bob Internal", "1002"))
    fake = caller_display(item("external", "Bob Internal", "1002"))
    assert real.text == "Bob Internal (1002)" and real.verified and "verified" in real.badge
    assert fake.text == "Caller says “Bob Internal” (1002)" and not fake.verified
    assert fake.badge == "Outside · not verified"
    assert real.sentence != fake.sentence and "Bob Internal (1002)" not in fake.sentence


@pytest.mark.parametrize(("kind", "name", "number", "text"), [
    ("external", None, "+12025550123", "Caller says +12025550123"),
    ("external", "ACME CORP", None, "Caller says “ACME CORP”"),
    ("external", None, None, "Outside caller"),  # identity withheld from this viewer (an administrator)
    ("anonymous", None, None, "Anonymous caller"),
    ("internal", None, "1001", "1001"),
])
def test_every_caller_kind_has_a_text_and_a_worded_mark(kind: str, name: str | None, number: str | None,
                                                        text: str) -> None:
    shown = caller_display(item(kind, name, number))
    assert shown.text == text
    assert shown.badge.startswith("Internal" if kind == "internal" else "Outside")
    assert caller_label(item(kind, name, number)) == f"{text} ({shown.badge})"


@pytest.mark.parametrize("good", ["/messages/0b0f6a59-2b7e-4f7b-9a0e-6a3f2c1d9e10", "/?folder=INBOX&page=2",
                                  "/calls", "/settings", "/?mailbox=1001%40default"])
def test_own_relative_paths_are_returned_to_after_sign_in(good: str) -> None:
    assert safe_next(good) == good


@pytest.mark.parametrize("bad", [
    None, "", "https://evil.example/", "http:/evil.example", "//evil.example", "///evil.example",
    "/\\evil.example", "\\\\evil.example", "/%2Fevil.example", "/%2fevil.example", "%2F%2Fevil.example",
    "/%5Cevil.example", "/%255Cevil.example", "/%252F%252Fevil.example", "/%25252F%25252F%25252F%25252Fevil",
    "javascript:alert(1)", "/\tevil", "/ evil", "/a%20b", "/%09/evil.example", "/%0d%0aSet-Cookie:x=1", "messages/1",
    "/signin", "/signin?next=/signin", "/signout", "/" + "a" * 2001,
])
def test_anything_but_an_own_relative_path_is_refused(bad: str | None) -> None:
    assert safe_next(bad) is None


def test_signin_url_carries_the_requested_page_encoded() -> None:
    assert signin_url("/messages/abc", "") == "/signin?next=%2Fmessages%2Fabc"
    assert signin_url("/", "folder=Old") == "/signin?next=%2F%3Ffolder%3DOld"
    assert signin_url("/", "") == "/signin"
    assert signin_url("//evil.example", "") == "/signin"


def test_pager_numbers_the_first_last_and_nearby_pages() -> None:
    links = page_links(5, 25 * 10, 25, lambda n: f"/?page={n}")
    assert [link.number for link in links] == [1, None, 3, 4, 5, 6, 7, None, 10]
    assert [link.number for link in links if link.current] == [5]
    assert links[-1].url == "/?page=10"
    assert page_links(1, 25, 25, str) == [] and page_count(26, 25) == 2 and page_count(0, 25) == 1


def test_times_show_seconds_and_today() -> None:
    now = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC).timestamp()
    assert local_time(int(now) - 3600 + 13, "UTC", now=now) == "Today 11:00:13 UTC"
    assert local_time(int(now) - 86400, "UTC", now=now) == "2026-12-03 12:00:00 UTC"
    assert local_time(int(now) - 86400 + 7, "Europe/Paris", now=now) == "2026-12-03 13:00:07 CET"
