"""RFC 5322 rendering: structure, privacy and priority headers, time zones, refusing unsafe input."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mailer import compose, render_rfc5322
from mailer.compose import format_duration, format_received
from tests.unit.mailer.mailer_testdata import NOTIFICATION_ID, SENT, SETTINGS, facts, internal, parse
from voicemail.domain.errors import PermanentError


def _rendered(urgent: bool = False) -> bytes:
    return render_rfc5322(compose(facts(internal(), urgent=urgent), SETTINGS), date=SENT)


def test_urgent_message_gets_high_importance_and_priority_one() -> None:
    message = parse(_rendered(urgent=True))
    assert message["Importance"] == "High"
    assert message["X-Priority"] == "1"
    assert message["Subject"].startswith("[Urgent] ")


def test_normal_message_has_no_importance_or_priority_headers() -> None:
    message = parse(_rendered(urgent=False))
    assert message["Importance"] is None
    assert message["X-Priority"] is None
    assert not message["Subject"].startswith("[Urgent]")


def test_urgent_flag_is_shown_in_text_and_html() -> None:
    email = compose(facts(internal(), urgent=True), SETTINGS)
    assert "Priority:  Urgent" in email.text
    assert "<td>Urgent</td>" in email.html
    normal = compose(facts(internal(), urgent=False), SETTINGS)
    assert "Urgent" not in normal.text


def test_every_message_is_private_and_auto_generated() -> None:
    message = parse(_rendered())
    assert message["Sensitivity"] == "Private"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["MIME-Version"] == "1.0"


def test_message_is_text_and_html_alternatives_without_attachment() -> None:
    message = parse(_rendered())
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert all(part.get_filename() is None and part["Content-Disposition"] is None for part in parts)
    assert list(message.iter_attachments()) == []


def test_message_uses_crlf_and_seven_bit_bodies() -> None:
    raw = render_rfc5322(compose(facts(internal("Jürgen Ünal", "1003")), SETTINGS), date=SENT)
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert raw.isascii()


def test_headers_name_sender_recipient_date_and_message_id() -> None:
    message = parse(_rendered())
    assert message["From"] == "Example Voicemail <voicemail@example.org>"
    assert message["To"] == "alice@example.test"
    assert message["Date"] == "Sun, 29 Nov 2026 19:00:00 +0000"
    assert message["Message-ID"] == f"<{NOTIFICATION_ID}@voicemail.invalid>"
    assert message["X-Voicemail-Id"] == NOTIFICATION_ID


def test_message_id_domain_is_configurable() -> None:
    raw = render_rfc5322(compose(facts(internal()), SETTINGS), message_id_domain="vm.example.org", date=SENT)
    assert parse(raw)["Message-ID"] == f"<{NOTIFICATION_ID}@vm.example.org>"


def test_body_has_link_mailbox_duration_and_time() -> None:
    email = compose(facts(internal()), SETTINGS)
    url = f"https://voicemail.example.org/play/{NOTIFICATION_ID}"
    assert url in email.text
    assert f'<a href="{url}"' in email.html
    for text in (email.text, email.html):
        assert "1001@default" in text
        assert "1:03" in text
        assert "Sunday, 29 November 2026, 19:55 CET (Europe/Berlin)" in text


@pytest.mark.parametrize(
    ("zone", "moment", "shown"),
    [
        ("Europe/Berlin", datetime(2026, 11, 29, 18, 55, tzinfo=UTC), "Sunday, 29 November 2026, 19:55 CET"),
        ("Europe/Berlin", datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "Wednesday, 1 July 2026, 14:00 CEST"),
        ("America/New_York", datetime(2026, 11, 29, 18, 55, tzinfo=UTC), "Sunday, 29 November 2026, 13:55 EST"),
        ("Pacific/Auckland", datetime(2026, 11, 29, 18, 55, tzinfo=UTC), "Monday, 30 November 2026, 07:55 NZDT"),
        ("UTC", datetime(2026, 11, 29, 18, 55, tzinfo=UTC), "Sunday, 29 November 2026, 18:55 UTC"),
    ],
)
def test_received_time_is_shown_in_the_owners_time_zone(zone: str, moment: datetime, shown: str) -> None:
    assert format_received(moment, zone).startswith(shown)
    email = compose(facts(internal(), received_at=moment, owner_timezone=zone), SETTINGS)
    assert shown in email.text


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", ""])
def test_unknown_time_zone_falls_back_to_utc_and_says_so(zone: str) -> None:
    assert format_received(datetime(2026, 11, 29, 18, 55, tzinfo=UTC), zone) == (
        "Sunday, 29 November 2026, 18:55 UTC"
    )


@pytest.mark.parametrize(("seconds", "shown"), [(0, "0:00"), (3, "0:03"), (125, "2:05"), (3723, "1:02:03")])
def test_duration_is_shown_as_minutes_and_seconds(seconds: int, shown: str) -> None:
    assert format_duration(seconds) == shown


@pytest.mark.parametrize("name", ["Bcc", "From", "subject", "Content-Type", "Importance", "X-Bad Header"])
def test_notification_may_not_set_reserved_or_malformed_headers(name: str) -> None:
    email = compose(facts(internal()), SETTINGS)
    with pytest.raises(PermanentError):
        render_rfc5322(replace(email, headers=((name, "x@evil.test"),)), date=SENT)


def test_header_value_with_line_break_is_refused() -> None:
    email = compose(facts(internal()), SETTINGS)
    with pytest.raises(PermanentError):
        render_rfc5322(replace(email, subject="Hi\r\nBcc: x@evil.test"), date=SENT)
    with pytest.raises(PermanentError):
        render_rfc5322(replace(email, headers=(("X-Note", "a\nBcc: x@evil.test"),)), date=SENT)


def test_mismatched_voicemail_id_header_is_refused() -> None:
    email = compose(facts(internal()), SETTINGS)
    with pytest.raises(PermanentError):
        render_rfc5322(replace(email, headers=(("X-Voicemail-Id", "other-id"),)), date=SENT)


@pytest.mark.parametrize("recipient", ["alice@example.test\r\nBcc: x@evil.test", "not an address", ""])
def test_bad_recipient_is_refused(recipient: str) -> None:
    email = compose(facts(internal()), SETTINGS)
    with pytest.raises(PermanentError):
        render_rfc5322(replace(email, recipient=recipient), date=SENT)


def test_extra_headers_are_written() -> None:
    email = compose(facts(internal()), SETTINGS)
    raw = render_rfc5322(replace(email, headers=(*email.headers, ("X-Voicemail-Site", "hq"))), date=SENT)
    assert parse(raw)["X-Voicemail-Site"] == "hq"


def test_a_stored_zone_that_names_a_folder_falls_back_to_utc() -> None:
    assert format_received(datetime(2026, 11, 29, 18, 55, tzinfo=UTC), "America") == (
        "Sunday, 29 November 2026, 18:55 UTC")


@pytest.mark.parametrize(("owner", "greeting"), [("Alice Owner", "Hello Alice Owner,"), ("", "Hello,"),
                                                  ("\n\t ", "Hello,")])
def test_greeting_names_the_owner_or_says_hello_alone(owner: str, greeting: str) -> None:
    email = compose(facts(internal(), recipient_name=owner), SETTINGS)
    assert email.text.splitlines()[0] == greeting
    assert f"{greeting}" in email.html and "Hello ," not in email.html
