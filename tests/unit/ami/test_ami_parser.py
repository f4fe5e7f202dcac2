"""The pure AMI parser against every real capture, fed in every way a socket can cut it."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import pytest
from ami_fakes import BANNER

from voicemail.ami.parser import (
    AmiMessage,
    AmiParser,
    AmiProtocolError,
    UnsafeValue,
    clear_line_cache,
    encode_message,
    parse_block,
)


def rx_streams(captures: Path) -> dict[str, bytes]:
    streams = {p.name: p.read_bytes() for p in sorted(captures.glob("*.rx.ami.txt"))}
    assert len(streams) >= 10, "expected the ten rx captures"
    return streams


def feed_all(chunks: list[bytes], **options: bool) -> tuple[list[AmiMessage], str | None]:
    parser = AmiParser(**options)
    out: list[AmiMessage] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out, parser.banner


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, pos, n = [], 0, 0
    while pos < len(data):
        size = sizes[n % len(sizes)]
        chunks.append(data[pos:pos + size])
        pos, n = pos + size, n + 1
    return chunks


def reference_headers(text: str) -> tuple[tuple[str, str], ...]:
    """The framing rule, written plainly: CRLF lines, split at the first colon, one space dropped."""
    out = []
    for line in text.split("\r\n"):
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            out.append(("", line.rstrip("\n")))
        else:
            out.append((key.strip(), (value[1:] if value.startswith(" ") else value).rstrip("\r\n")))
    return tuple(out)


def test_every_capture_parses_the_same_in_1_7_and_random_byte_slices(captures: Path) -> None:
    rng = random.Random(5038)
    for name, data in rx_streams(captures).items():
        whole, banner = feed_all([data])
        assert banner == "Asterisk Call Manager/11.0.0", name
        # one message per blank-line-terminated block of the capture
        assert len(whole) == data[len(BANNER):].count(b"\r\n\r\n"), name
        for sizes in ([1], [7], [rng.randint(1, 700) for _ in range(50)]):
            clear_line_cache()
            sliced, sliced_banner = feed_all(cut(data, sizes))
            assert sliced == whole, (name, sizes[:3])
            assert sliced_banner == banner


def test_messages_match_the_plain_framing_rule(captures: Path) -> None:
    for name, data in rx_streams(captures).items():
        messages, _ = feed_all([data])
        blocks = data.decode("utf-8")[len(BANNER):].split("\r\n\r\n")
        expected = [reference_headers(b) for b in blocks if reference_headers(b)]
        assert [m.headers for m in messages] == expected, name


def test_get_answers_from_the_text_as_the_full_parse_would(captures: Path) -> None:
    names = ["Event", "ActionID", "Response", "EventList", "Message", "Mailbox", "actionid", "Nope"]
    for data in rx_streams(captures).values():
        lazy, _ = feed_all([data])  # headers not parsed yet: get() searches the text
        eager, _ = feed_all([data])
        for msg in eager:
            assert msg.headers  # parsed: get() walks the headers
        for quick, full in zip(lazy, eager, strict=True):
            for name in names:
                assert quick.get(name) == full.get(name), name


def test_get_is_exact_on_hostile_spellings() -> None:
    text = "Event: X\r\n actionid : early\r\nActionID: late\r\nEVENT: second"
    msg = AmiParser(expect_banner=False).feed(text.encode() + b"\r\n\r\n")[0]
    assert msg.get("ActionID") == "early"  # the first header of that name, whatever its case or spaces
    assert msg.get("Event") == "X"
    assert msg.get_all("event") == ["X", "second"]


def test_utf8_character_split_across_reads_stays_intact() -> None:
    data = BANNER + "Event: VarSet\r\nValue: Zoë Ærø 日本\r\n\r\n".encode()
    two, three = data.index("ë".encode()), data.index("日".encode())
    for cut_at in (two + 1, three + 1, three + 2):  # inside a two- and a three-byte character
        messages, _ = feed_all([data[:cut_at], data[cut_at:]])
        assert messages[0].get("Value") == "Zoë Ærø 日本", cut_at


def test_bare_lf_in_move_reply_is_kept_out_of_the_value(captures: Path) -> None:
    data = (captures / "q2b-vm-move-remove-forward.rx.ami.txt").read_bytes()
    assert b"Message: Message move successful\n\r\n\r\n" in data
    messages, _ = feed_all(cut(data, [1]))
    replies = {m.action_id: m for m in messages if m.response is not None}
    assert replies["lab-003"].get("Message") == "Message move successful"
    assert replies["lab-004"].get("Message") == "Message remove successful"
    assert replies["lab-006"].get("Message") == "Message remove failed"
    # the event right after the bare-LF reply is its own message
    after = messages[messages.index(replies["lab-003"]) + 1]
    assert after.event == "MessageWaiting" and after.get("Mailbox") == "1002@default"


def expected_messages(text: str) -> list[tuple[tuple[str, str], ...]]:
    """Messages by the plain rule: runs of non-empty CRLF lines, each ended by an empty line."""
    out, run = [], []
    for line in text.split("\r\n")[:-1]:  # the last piece is an unfinished line
        if line:
            run.append(line)
        elif run:
            out.append(reference_headers("\r\n".join(run)))
            run = []
    return out


def test_random_bytes_parse_like_the_plain_rule_in_any_slicing() -> None:
    rng = random.Random(11)
    alphabet = ["a", "Key", ":", " ", "\r", "\n", "\r\n", "\r\n\r\n", "é", "\x00", "\t", "Event", "ActionID"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 50))) + "\r\n\r\n"
        data = text.encode()
        whole, _ = feed_all([data], expect_banner=False)
        sliced, _ = feed_all(cut(data, [rng.randint(1, 9)]), expect_banner=False)
        assert whole == sliced, repr(text)
        expected = expected_messages(text)
        assert [m.headers for m in whole] == expected, repr(text)
        for name in ("Event", "ActionID", "actionid", "Key", "a"):
            fresh, _ = feed_all([data], expect_banner=False)  # unparsed: get() searches the text
            assert [m.get(name) for m in fresh] == [AmiMessage(h).get(name) for h in expected], repr(text)


def test_oversize_message_raises_protocol_error_and_keeps_earlier_messages() -> None:
    parser = AmiParser(expect_banner=False, max_message_bytes=64)
    with pytest.raises(AmiProtocolError) as caught:
        parser.feed(b"Event: A\r\n\r\n" + b"X" * 100)
    assert [m.event for m in caught.value.messages] == ["A"]
    assert parser.feed(b"Event: B\r\n\r\n")[0].event == "B"  # the buffer was reset


def test_garbage_and_colonless_lines_are_kept_not_guessed() -> None:
    messages = AmiParser(expect_banner=False).feed(b"hello world\r\n\r\nEvent: X\r\nbroken line\r\n\r\n")
    assert messages[0].headers == (("", "hello world"),)
    assert messages[1].headers == (("Event", "X"), ("", "broken line"))


def test_server_side_parser_accepts_bare_lf_lines() -> None:
    parser = AmiParser(expect_banner=False, lf_lines=True)
    out = parser.feed(b"Action: Ping\nActionID: 1\n\nAction: Login\r\nActionID: 2\r\n\r\n")
    assert [(m.action, m.action_id) for m in out] == [("Ping", "1"), ("Login", "2")]


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\x00b", "x\r\nAction: Originate"])
def test_encode_refuses_cr_lf_nul(value: str) -> None:
    with pytest.raises(UnsafeValue):
        encode_message([("Action", "Ping"), ("Data", value)])
    with pytest.raises(UnsafeValue):
        encode_message([(f"K{value}", "v")])


def test_messages_are_read_only_values() -> None:
    msg = parse_block("Event: X\r\nA: 1")
    with pytest.raises(AttributeError):
        msg.headers = ()  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(msg)) == msg
    assert hash(msg) == hash(AmiMessage((("Event", "X"), ("A", "1"))))
    assert msg.as_dict() == {"Event": "X", "A": "1"}
