"""The disclosure policy: an outside caller appears nowhere in the mail; an internal one is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer import MailSettings, OutboxMailer, compose, render_rfc5322
from tests.unit.mailer.mailer_testdata import (
    EXTERNAL_NAME,
    EXTERNAL_NUMBER,
    NOTIFICATION_ID,
    SENT,
    SETTINGS,
    facts,
    internal,
    leaks,
    parse,
    spoofed_external,
)
from voicemail.domain.models import Caller, CallerKind


def _external_eml(tmp_path: Path, *, urgent: bool = False) -> tuple[bytes, Path]:
    email = compose(facts(spoofed_external(), urgent=urgent), SETTINGS)
    mailer = OutboxMailer(tmp_path, clock=lambda: SENT)
    mailer.send(email)
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    return files[0].read_bytes(), files[0]


def test_leak_detector_finds_an_internal_callers_number_and_name(tmp_path: Path) -> None:
    # Guards the tests below: the same inspection does find caller data when it is there.
    caller = Caller(CallerKind.INTERNAL, name=EXTERNAL_NAME, number=EXTERNAL_NUMBER)
    raw = render_rfc5322(compose(facts(caller), SETTINGS), date=SENT)
    found = leaks(raw)
    assert EXTERNAL_NAME in found
    assert EXTERNAL_NUMBER in found
    assert "5550" in found


def test_external_caller_never_in_subject() -> None:
    email = compose(facts(spoofed_external()), SETTINGS)
    assert email.subject == "Voice message from an outside caller"
    assert leaks(email.subject) == []


def test_external_caller_never_in_body() -> None:
    email = compose(facts(spoofed_external()), SETTINGS)
    assert "An outside caller" in email.text
    assert leaks(email.text) == []


def test_external_caller_never_in_html() -> None:
    email = compose(facts(spoofed_external()), SETTINGS)
    assert "An outside caller" in email.html
    assert leaks(email.html) == []


def test_external_caller_never_in_headers(tmp_path: Path) -> None:
    raw, _ = _external_eml(tmp_path, urgent=True)
    message = parse(raw)
    header_text = "\n".join(f"{name}: {value}" for name, value in message.items())
    assert leaks(header_text) == []
    assert leaks(raw.split(b"\r\n\r\n", 1)[0].decode("ascii")) == []
    assert message["X-Voicemail-Id"] == NOTIFICATION_ID


def test_external_caller_never_in_filename(tmp_path: Path) -> None:
    _, path = _external_eml(tmp_path)
    assert path.name == f"{NOTIFICATION_ID}.eml"
    assert leaks(path.name) == []


def test_external_caller_never_in_message_id(tmp_path: Path) -> None:
    raw, _ = _external_eml(tmp_path)
    message = parse(raw)
    assert message["Message-ID"] == f"<{NOTIFICATION_ID}@voicemail.invalid>"
    assert message.get_boundary() == f"=_vm_alt_{NOTIFICATION_ID}"


@pytest.mark.parametrize("urgent", [False, True])
def test_external_caller_in_no_byte_and_no_decoded_part_of_the_eml(tmp_path: Path, urgent: bool) -> None:
    raw, _ = _external_eml(tmp_path, urgent=urgent)
    assert leaks(raw) == []


def test_properly_built_external_caller_gives_the_same_mail_as_a_spoofed_one() -> None:
    spoofed = compose(facts(spoofed_external()), SETTINGS)
    clean = compose(facts(Caller.external()), SETTINGS)
    assert spoofed == clean


def test_configured_external_subject_is_used_verbatim_and_carries_no_caller_data() -> None:
    settings = MailSettings(sender="voicemail@example.org", external_subject="New voicemail {name} {number}")
    email = compose(facts(spoofed_external()), settings)
    assert email.subject == "New voicemail {name} {number}"
    assert leaks(email.subject) == []


def test_internal_caller_is_named_with_directory_name_and_number() -> None:
    email = compose(facts(internal("Bob Colleague", "1002")), SETTINGS)
    assert email.subject == "Voice message from Bob Colleague (1002)"
    assert "Bob Colleague (1002)" in email.text
    assert "Bob Colleague (1002)" in email.html
    assert "An outside caller" not in email.text


def test_internal_caller_shown_in_the_rendered_eml_subject_header() -> None:
    raw = render_rfc5322(compose(facts(internal("Jürgen Ünal", "1003")), SETTINGS), date=SENT)
    message = parse(raw)
    assert message["Subject"] == "Voice message from Jürgen Ünal (1003)"
    text_part = message.get_body(preferencelist=("plain",))
    assert text_part is not None
    assert "Jürgen Ünal (1003)" in text_part.get_content()


def test_internal_caller_without_name_or_number_is_shown_as_outside_caller() -> None:
    email = compose(facts(Caller(CallerKind.INTERNAL, name="\u202e\r\n", number="--")), SETTINGS)
    assert email.subject == SETTINGS.external_subject
    assert "An outside caller" in email.text


def test_custom_internal_subject_template_is_filled_with_sanitized_values() -> None:
    settings = MailSettings(sender="voicemail@example.org", internal_subject_template="VM: {number} / {name}")
    email = compose(facts(internal("Bob\r\nColleague", "10 02")), settings)
    assert email.subject == "VM: 1002 / Bob Colleague"
