"""A header looked up in a message fed from the wire (searched in its text) gives the same answer as in the
parsed headers: the first header of that name, case-insensitively, or None; and header names that could
change the framing are refused when encoding."""

from __future__ import annotations

import pytest

from voicemail.ami.parser import AmiParser, UnsafeValue, encode_message, parse_block

BLOCKS = [
    "Response: Success\r\nMessage: Authentication accepted",
    "Event: MessageWaiting\r\nMailbox: 1001@default\r\nWaiting: 1\r\nNew: 2\r\nOld: 0",
    "Event: X\r\nMAILBOX: first@default\r\nMailbox: second@default",  # spelled differently first
    "Event: X\r\nMailbox : spaced@default\r\nMailbox: plain@default",  # a space before the colon
    "Event: X\r\nİnfo: dotted\r\nMailbox: after-non-ascii@default",  # lower() changes the length
    "Event: X\r\nNote: Mailbox: in a value\r\nMailbox: real@default",
    "Mailbox: at-the-start@default\r\nEvent: X",
    "Event: X\r\nMailbox:\r\nNew: 1",  # an empty value
    "Event: X\r\nMailboxes: 3\r\nMailbox: 1001@default",  # a longer name that starts with it
    "Event: X\r\nNo colon here\r\nWaiting: yes",
]
NAMES = ["Event", "event", "EVENT", "Mailbox", "mailbox", "Response", "Message", "New", "Old", "Waiting",
         "Note", "Mailboxes", "İnfo", "Missing", "Mail box", "Mailbox:", ""]


def _wire(block: str) -> bytes:
    return (block + "\r\n\r\n").encode()


@pytest.mark.parametrize("block", BLOCKS)
def test_a_header_from_the_wire_is_found_as_in_the_parsed_headers(block: str) -> None:
    [fed] = AmiParser(expect_banner=False).feed(_wire(block))
    parsed = parse_block(block)
    for name in NAMES:
        expected = next((v for k, v in parsed.headers if k.lower() == name.lower()), None)
        assert fed.get(name) == expected, (block, name)
        assert fed.get(name, "default") == (expected if expected is not None else "default")
        assert (name in fed) == (expected is not None)


@pytest.mark.parametrize("block", BLOCKS)
def test_messages_fed_with_lf_only_lines_read_the_same(block: str) -> None:
    [fed] = AmiParser(expect_banner=False, lf_lines=True).feed(block.replace("\r\n", "\n").encode() + b"\n\n")
    assert fed.headers == parse_block(block).headers


@pytest.mark.parametrize("name", ["", "Mailbox: x", "Mail\rbox", "Mail\nbox", "Mail\x00box", " Mailbox",
                                  "Mailbox "])
def test_header_names_that_could_change_the_framing_are_refused(name: str) -> None:
    with pytest.raises(UnsafeValue, match="unsafe AMI header name"):
        encode_message([("Action", "Ping"), (name, "1")])


def test_an_unsafe_value_is_refused_naming_its_header() -> None:
    with pytest.raises(UnsafeValue, match=r"unsafe value for AMI header 'Mailbox' \(CR, LF or NUL\)"):
        encode_message([("Action", "MailboxCount"), ("Mailbox", "1001\r\nAction: Originate")])


@pytest.mark.parametrize(("banner", "lf"), [(False, False), (True, False), (False, True)])
def test_bytes_that_are_not_utf8_are_replaced_never_fatal(banner: bool, lf: bool) -> None:
    parser = AmiParser(expect_banner=banner, lf_lines=lf)
    eol = b"\n" if lf else b"\r\n"
    data = (b"Asterisk Call Manager/\xff9.0" + eol if banner else b"") + \
        b"Event: X" + eol + b"CallerIDName: Caf\xe9" + eol + eol
    [msg] = parser.feed(data)
    assert msg.get("CallerIDName") == "Caf\ufffd"
    if banner:
        assert parser.banner == "Asterisk Call Manager/\ufffd9.0"


def test_a_missing_header_is_a_key_error_naming_it() -> None:
    [msg] = AmiParser(expect_banner=False).feed(b"Event: X\r\n\r\n")
    assert msg["event"] == "X"
    with pytest.raises(KeyError, match="Mailbox"):
        msg["Mailbox"]
