"""What the notification says besides the message's facts: the Listen button, how many new messages
wait, the play-on-phone line only when that feature is on, and a call-back link for internal callers only."""

from __future__ import annotations

import re

from mailer import compose
from tests.unit.mailer.mailer_testdata import (
    EXTERNAL_NAME,
    EXTERNAL_NUMBER,
    SETTINGS,
    facts,
    internal,
    spoofed_external,
)
from voicemail.domain.models import Caller, CallerKind

URL = "https://voicemail.example.org/play/nq-fixed-id-abcdef"


def test_html_has_a_listen_button_linking_to_the_player() -> None:
    email = compose(facts(internal()), SETTINGS)
    button = re.search(r'<a href="([^"]+)"[^>]*>Listen</a>', email.html)
    assert button is not None and button.group(1) == URL
    assert URL in email.text


def test_new_message_count_is_said_in_text_and_html() -> None:
    three = compose(facts(internal(), new_count=3), SETTINGS)
    assert "You have 3 new messages." in three.text and "You have 3 new messages." in three.html
    one = compose(facts(internal(), new_count=1), SETTINGS)
    assert "You have 1 new message." in one.text and "You have 1 new message." in one.html


def test_new_message_count_never_says_fewer_than_this_one() -> None:
    email = compose(facts(internal(), new_count=0), SETTINGS)
    assert "You have 1 new message." in email.text


def test_play_on_phone_line_only_when_the_feature_is_on() -> None:
    off = compose(facts(internal(), play_on_phone=False), SETTINGS)
    on = compose(facts(internal(), play_on_phone=True), SETTINGS)
    for text in (off.text, off.html):
        assert "played on your phone" not in text
    for text in (on.text, on.html):
        assert "From the web player you can also have it played on your phone." in text


def test_internal_caller_gets_a_call_back_link_to_their_number() -> None:
    email = compose(facts(internal("Bob Colleague", "1002")), SETTINGS)
    assert '<a href="tel:1002">Call back</a>' in email.html
    assert "Call back: tel:1002" in email.text


def test_outside_caller_gets_no_call_back_link_and_no_number() -> None:
    email = compose(facts(spoofed_external(), new_count=2, play_on_phone=True), SETTINGS)
    for text in (email.text, email.html, email.subject):
        assert "tel:" not in text
        assert "Call back" not in text
        assert EXTERNAL_NUMBER not in text and EXTERNAL_NUMBER.lstrip("+") not in text
        assert EXTERNAL_NAME not in text


def test_withheld_caller_gets_no_call_back_link() -> None:
    email = compose(facts(Caller(CallerKind.EXTERNAL, name="", number="")), SETTINGS)
    assert "tel:" not in email.html and "tel:" not in email.text


def test_internal_caller_without_a_number_gets_no_call_back_link() -> None:
    email = compose(facts(internal("Reception Desk", "")), SETTINGS)
    assert "tel:" not in email.html and "Call back" not in email.text


def test_a_forwarded_message_names_the_colleague_and_shows_the_comment_escaped() -> None:
    comment = 'Please call back <a href="https://evil.example">here</a>\r\nBcc: x@evil.example\n\n& thanks'
    email = compose(facts(internal(), forwarded_by="Alice Example (1001)", forward_comment=comment), SETTINGS)
    assert email.subject.startswith("Fwd: ")
    assert "Forwarded to you by Alice Example (1001) (internal)." in email.text
    assert "  | Bcc: x@evil.example\n" in email.text  # a line of the comment, never a header
    assert "Forwarded to you by <strong>Alice Example (1001)</strong> (internal)." in email.html
    assert "&lt;a href=&quot;https://evil.example&quot;&gt;here&lt;/a&gt;" in email.html
    assert "<a href=\"https://evil.example\"" not in email.html and "&amp; thanks" in email.html


def test_a_forwarded_outside_callers_message_still_says_nothing_of_the_caller() -> None:
    email = compose(facts(spoofed_external(), forwarded_by="Alice Example (1001)", forward_comment=""), SETTINGS)
    for part in (email.subject, email.text, email.html):
        assert EXTERNAL_NAME not in part and EXTERNAL_NUMBER not in part
    assert "Their comment" not in email.text and "Forwarded to you by Alice Example (1001)" in email.text


def test_a_long_comment_is_cut_at_the_limit() -> None:
    email = compose(facts(internal(), forwarded_by="Alice (1001)", forward_comment="y" * 2000), SETTINGS)
    assert "y" * 500 in email.text and "y" * 501 not in email.text


def test_a_message_that_was_not_forwarded_says_nothing_of_forwarding() -> None:
    email = compose(facts(internal()), SETTINGS)
    assert not email.subject.startswith("Fwd:") and "Forwarded" not in email.text + email.html


def test_the_site_is_named_after_the_mailbox_only_when_given() -> None:
    one = compose(facts(internal()), SETTINGS)
    several = compose(facts(internal(), site="branch"), SETTINGS)
    assert "in mailbox 1001@default on site branch." in several.text
    assert "<strong>1001@default</strong> on site branch." in several.html
    assert "on site" not in one.text and "on site" not in one.html
    assert several.subject == one.subject and several.headers == one.headers
