"""Shared builders and inspectors for the mailer tests (not a test module)."""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from mailer import MailSettings, NotificationFacts
from voicemail.domain.models import Caller, CallerKind

# Chosen so that none of their 4+ digit runs occur in the fixed dates, ids or mailboxes below.
EXTERNAL_NUMBER = "+12025550123"
EXTERNAL_NAME = "Mallory Spoofer"
NOTIFICATION_ID = "nq-fixed-id-abcdef"
RECEIVED = datetime(2026, 11, 29, 18, 55, 49, tzinfo=UTC)
SENT = datetime(2026, 11, 29, 19, 0, 0, tzinfo=UTC)
SETTINGS = MailSettings(sender="voicemail@example.org", site_name="Example Voicemail")


def facts(caller: Caller, **changes: object) -> NotificationFacts:
    base = NotificationFacts(
        notification_id=NOTIFICATION_ID,
        recipient="alice@example.test",
        recipient_name="Alice Owner",
        mailbox="1001@default",
        caller=caller,
        received_at=RECEIVED,
        duration_seconds=63,
        urgent=False,
        player_url=f"https://voicemail.example.org/play/{NOTIFICATION_ID}",
        owner_timezone="Europe/Berlin",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def spoofed_external() -> Caller:
    """An EXTERNAL caller that (wrongly) still carries caller data: composition must ignore it."""
    return Caller(CallerKind.EXTERNAL, name=EXTERNAL_NAME, number=EXTERNAL_NUMBER)


def internal(name: str = "Bob Colleague", number: str = "1002") -> Caller:
    return Caller(CallerKind.INTERNAL, name=name, number=number)


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def every_text_form(raw: bytes) -> list[str]:
    """The message as raw text, plus every header (decoded) and every part's decoded payload."""
    forms = [raw.decode("latin-1")]
    for part in parse(raw).walk():
        forms.extend(f"{name}: {value}" for name, value in part.items())
        forms.append(part.get_boundary() or "")
        forms.append(part.get_filename() or "")
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            forms.append(payload.decode("utf-8", "replace"))
            content = part.get_content()
            forms.append(content if isinstance(content, str) else "")
    return forms + [html.unescape(form) for form in forms]


def secrets_of(number: str, name: str) -> list[str]:
    """The number, its digits, every run of 4+ consecutive digits of it, and the name."""
    digits = "".join(char for char in number if char.isdigit())
    runs = {digits[i:j] for i in range(len(digits)) for j in range(i + 4, len(digits) + 1)}
    return sorted({number, digits, name, *runs}, key=len, reverse=True)


def leaks(raw_or_text: bytes | str, number: str = EXTERNAL_NUMBER, name: str = EXTERNAL_NAME) -> list[str]:
    forms = every_text_form(raw_or_text) if isinstance(raw_or_text, bytes) else [raw_or_text]
    lowered = [form.lower() for form in forms]
    return [secret for secret in secrets_of(number, name) if any(secret.lower() in f for f in lowered)]
