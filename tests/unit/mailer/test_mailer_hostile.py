"""Caller names are hostile input: no header injection, no markup injection, no bidi tricks."""

from __future__ import annotations

import unicodedata

import pytest

from mailer import compose, render_rfc5322
from mailer.compose import CALLER_NAME_LIMIT
from mailer.sanitize import one_line, phone_number
from tests.unit.mailer.mailer_testdata import SENT, SETTINGS, facts, internal, parse

HOSTILE_NAMES = {
    "crlf-bcc": "Eve\r\nBcc: attacker@evil.test",
    "lf-header": "Eve\nX-Injected: yes",
    "cr-only": "Eve\rSubject: replaced",
    "nul": "Eve\x00Null",
    "ten-kb": "E" * 10_000,
    "bidi-override": "\u202eexe.txt\u202c Eve",
    "bidi-isolates": "\u2066Eve\u2069 \u200fRLM\u200e",
    "zero-width": "E\u200bv\u200de\ufeff",
    "script": "<script>alert('x')</script>",
    "attribute-break": '"><img src=x onerror=alert(1)>',
    "line-separators": "Eve\u2028Bcc: a@b.test\u2029\x85next",
    "c1-controls": "Eve\x9b31m\x1b[2J",
}
EXPECTED_HEADERS = {
    "from", "to", "subject", "date", "message-id", "sensitivity", "auto-submitted",
    "x-auto-response-suppress", "x-voicemail-id", "mime-version", "content-type",
}


def _invisible_or_control(text: str) -> list[str]:
    return [char for char in text if unicodedata.category(char).startswith("C") and char not in "\n\r"]


@pytest.mark.parametrize("name", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_hostile_name_gives_a_single_line_bounded_subject(name: str) -> None:
    email = compose(facts(internal(name, "1002")), SETTINGS)
    assert "\r" not in email.subject and "\n" not in email.subject and "\x00" not in email.subject
    assert _invisible_or_control(email.subject) == []
    prefix, suffix = "Voice message from ", " (1002)"
    assert email.subject.startswith(prefix) and email.subject.endswith(suffix)
    assert len(email.subject) <= len(prefix) + CALLER_NAME_LIMIT + len(suffix)


@pytest.mark.parametrize("name", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_hostile_name_injects_no_header(name: str) -> None:
    raw = render_rfc5322(compose(facts(internal(name, "1002")), SETTINGS), date=SENT)
    message = parse(raw)
    assert {key.lower() for key in message} == EXPECTED_HEADERS
    assert len(message.get_all("Subject") or []) == 1
    assert b"\x00" not in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")  # every line ends in CRLF, no bare CR or LF


@pytest.mark.parametrize("name", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_hostile_name_leaves_no_control_or_bidi_character_in_text_or_html(name: str) -> None:
    email = compose(facts(internal(name, "1002")), SETTINGS)
    assert _invisible_or_control(email.text) == []
    assert _invisible_or_control(email.html) == []


def test_script_in_name_is_escaped_in_html() -> None:
    email = compose(facts(internal("<script>alert('x')</script>", "1002")), SETTINGS)
    assert "<script" not in email.html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in email.html


def test_attribute_breakout_in_name_is_escaped_in_html() -> None:
    email = compose(facts(internal('"><img src=x onerror=alert(1)>', "1002")), SETTINGS)
    assert "<img" not in email.html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in email.html


def test_escaped_script_survives_rendering_as_text_not_markup() -> None:
    raw = render_rfc5322(compose(facts(internal("<b>Bold</b>", "1002")), SETTINGS), date=SENT)
    html_part = parse(raw).get_body(preferencelist=("html",))
    assert html_part is not None
    content = html_part.get_content()
    assert "&lt;b&gt;Bold&lt;/b&gt;" in content
    assert "<b>Bold</b>" not in content


def test_ten_kilobyte_name_is_capped_with_an_ellipsis() -> None:
    email = compose(facts(internal("E" * 10_000, "1002")), SETTINGS)
    shown = "E" * (CALLER_NAME_LIMIT - 1) + "…"
    assert email.subject == f"Voice message from {shown} (1002)"
    assert len(email.text) < 2_000


def test_crlf_in_name_becomes_one_space() -> None:
    assert one_line("Eve\r\nBcc: attacker@evil.test", 64) == "Eve Bcc: attacker@evil.test"


def test_hostile_number_keeps_only_dialable_characters() -> None:
    assert phone_number("1002\r\nBcc: x@y.test <script>") == "1002"
    assert phone_number("＋４９ ３０ １２３") == "+4930123"  # full-width digits are normalised
    assert phone_number("*86#") == "*86#"
