"""Header and body encoding of the .eml / SMTP form: what the reader sees is exactly what was composed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailer import MailSettings, compose, render_rfc5322
from tests.unit.mailer.mailer_testdata import SENT, SETTINGS, facts, internal, parse


def _raw(name: str, number: str = "1002", **changes: object) -> bytes:
    return render_rfc5322(compose(facts(internal(name, number), **changes), SETTINGS), date=SENT)


def _lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n")


@pytest.mark.parametrize("name", ["=?utf-8?b?RXZl?=", "=?iso-8859-1?q?=41lice?=", "Bob =?utf-8?q?x?= Colleague"])
def test_a_name_that_looks_like_an_encoded_word_is_shown_literally(name: str) -> None:
    message = parse(_raw(name))
    assert message["Subject"] == f"Voice message from {name} (1002)"


@pytest.mark.parametrize("name", ["Bob " * 15 + "Colleague", "Jürgen Ünal-Ødegård " * 3, "李小龍 🙂 " * 6, "x" * 64])
def test_long_subjects_fold_at_78_characters_and_read_back_exactly(name: str) -> None:
    email = compose(facts(internal(name, "1002"), urgent=True), SETTINGS)
    raw = render_rfc5322(email, date=SENT)
    head = raw.split(b"\r\n\r\n", 1)[0]
    subject_lines = head.split(b"\r\nSubject: ", 1)[1].split(b"\r\n")
    folded = [subject_lines[0]] + [line for line in subject_lines[1:] if line.startswith(b" ")]
    assert all(len(line) <= 78 for line in folded if b" " in line.strip())  # a lone long word may exceed it
    assert parse(raw)["Subject"] == email.subject
    assert head.isascii()


def test_plain_ascii_bodies_are_7bit_and_others_quoted_printable() -> None:
    ascii_message = parse(_raw("Bob Colleague"))
    accented = parse(_raw("Jürgen Ünal"))
    assert [p["Content-Transfer-Encoding"] for p in ascii_message.iter_parts()] == ["7bit", "7bit"]
    assert [p["Content-Transfer-Encoding"] for p in accented.iter_parts()] == ["quoted-printable"] * 2
    plain = next(accented.iter_parts()).get_content()
    assert "Jürgen Ünal (1002)" in plain


def test_a_body_that_holds_the_boundary_cannot_end_the_part() -> None:
    email = compose(facts(internal()), SETTINGS)
    hostile = replace(email, text=email.text + f"\n--=_vm_alt_{email.notification_id}--\nInjected: yes\n")
    message = parse(render_rfc5322(hostile, date=SENT))
    parts = list(message.iter_parts())
    assert len(parts) == 2
    assert parts[0]["Content-Transfer-Encoding"] == "quoted-printable"
    assert "Injected: yes" in parts[0].get_content()


def test_a_non_ascii_site_name_is_an_encoded_display_name() -> None:
    settings = MailSettings(sender="voicemail@example.org", site_name="Mailbox Zürich =?x?= ")
    message = parse(render_rfc5322(compose(facts(internal()), settings), date=SENT))
    assert message["From"].addresses[0].display_name == "Mailbox Zürich =?x?="
    assert message["From"].addresses[0].addr_spec == "voicemail@example.org"


def test_trailing_spaces_and_dots_in_the_body_survive() -> None:
    email = compose(facts(internal()), SETTINGS)
    text = "line with trailing space \n.\n.leading dot\nend"
    message = parse(render_rfc5322(replace(email, text=text), date=SENT))
    assert next(message.iter_parts()).get_content().replace("\r\n", "\n").rstrip("\n") == text
