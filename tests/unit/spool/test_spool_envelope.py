"""parse_envelope / parse_callerid against the real app_voicemail files of the captures."""

from __future__ import annotations

import pytest

from tests.conftest import CAPTURES
from voicemail.domain.errors import MalformedEnvelope
from voicemail.spool.envelope import MAX_ENVELOPE_BYTES, parse_callerid, parse_envelope

SAMPLES = sorted(
    ["msg0000.txt", "format-wav49-msg0016.txt"]
    + [p.name for p in CAPTURES.glob("spool-*-INBOX-msg*.txt")]
)


def sample(name: str) -> bytes:
    return (CAPTURES / name).read_bytes()


def test_every_capture_sample_is_present() -> None:
    assert len(SAMPLES) == 7


@pytest.mark.parametrize("name", SAMPLES)
def test_capture_samples_parse(name: str) -> None:
    env = parse_envelope(sample(name))
    assert env.msg_id.startswith(str(env.origtime))
    assert env.duration == 3
    assert env.priority in {"1", "2", "3"}
    assert env.flag == ""
    assert not env.urgent


def test_q1_message_fields() -> None:
    env = parse_envelope(sample("msg0000.txt"))
    assert env.msg_id == "1795978545-00000000"
    assert env.origmailbox == "1001"
    assert env.context == "vmlab"
    assert env.exten == "play"
    assert env.callerid == '"Alice Internal" <1001>'
    assert env.callerchan == "Local/play@vmlab-00000000;1"
    assert env.origdate == "Sun Nov 29 06:55:45 PM UTC 2026"
    assert env.origtime == 1795978545
    assert env.rdnis == "unknown"
    assert env.category == ""


def test_dialplan_internal_sample_records_its_context() -> None:
    env = parse_envelope(sample("spool-2001-INBOX-msg0000.dialplan-vmleave-int.txt"))
    assert (env.context, env.exten, env.origmailbox) == ("vmleave-int", "2001", "2001")
    assert env.callerid == '"Alice Internal" <1001>'


def test_value_may_contain_equals_and_odd_bytes() -> None:
    data = sample("msg0000.txt").replace(b'callerid="Alice Internal" <1001>', b'callerid="a=b \xff\xfe" <1001>')
    env = parse_envelope(data)
    assert env.callerid == '"a=b \ufffd\ufffd" <1001>'


def test_unknown_keys_and_other_sections_are_ignored() -> None:
    data = sample("msg0000.txt") + b"x_custom=1\n[other]\nmsg_id=nonsense\n"
    assert parse_envelope(data).msg_id == "1795978545-00000000"


def test_crlf_line_endings_are_tolerated() -> None:
    data = sample("msg0000.txt").replace(b"\n", b"\r\n")
    assert parse_envelope(data).duration == 3


@pytest.mark.parametrize("name", SAMPLES)
def test_every_truncation_of_a_sample_is_rejected(name: str) -> None:
    data = sample(name)
    for cut in range(len(data)):
        with pytest.raises(MalformedEnvelope):
            parse_envelope(data[:cut])


def test_truncated_last_line_names_truncation() -> None:
    with pytest.raises(MalformedEnvelope, match="truncated"):
        parse_envelope(sample("msg0000.txt")[:-1])


@pytest.mark.parametrize("key", ["msg_id", "origmailbox", "context", "exten", "callerid", "origtime", "duration"])
def test_missing_required_key_is_named(key: str) -> None:
    lines = [ln for ln in sample("msg0000.txt").split(b"\n") if not ln.startswith(key.encode() + b"=")]
    with pytest.raises(MalformedEnvelope, match=f"'{key}'"):
        parse_envelope(b"\n".join(lines))


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (b"msg_id=1795978545-00000000", b"msg_id=../../etc/passwd", "msg_id"),
        (b"origtime=1795978545", b"origtime=yesterday", "origtime"),
        (b"duration=3", b"duration=-3", "duration"),
        (b"duration=3", b"duration=", "duration"),
    ],
)
def test_invalid_values_are_rejected_without_echoing_them(old: bytes, new: bytes, key: str) -> None:
    with pytest.raises(MalformedEnvelope, match=f"'{key}'") as info:
        parse_envelope(sample("msg0000.txt").replace(old, new))
    bad_value = new.split(b"=", 1)[1].decode()
    if bad_value:
        assert bad_value not in str(info.value)


def test_error_messages_never_contain_caller_data() -> None:
    data = sample("msg0000.txt").replace(b"duration=3\n", b"")
    with pytest.raises(MalformedEnvelope) as info:
        parse_envelope(data)
    assert "Alice" not in str(info.value)
    assert "1001" not in str(info.value)


def test_a_smuggled_second_msg_id_line_is_refused() -> None:
    data = sample("msg0000.txt").replace(
        b'callerid="Alice Internal" <1001>', b'callerid="Eve" <666>\nmsg_id=1795978545-deadbeef'
    )
    with pytest.raises(MalformedEnvelope, match="repeats key 'msg_id'"):
        parse_envelope(data)


def test_line_without_equals_in_message_section_is_refused() -> None:
    data = sample("msg0000.txt").replace(b"flag=\n", b"flag=\ngarbage\n")
    with pytest.raises(MalformedEnvelope, match="line 17"):
        parse_envelope(data)


def test_missing_message_section_is_refused() -> None:
    data = sample("msg0000.txt").replace(b"[message]\n", b"")
    with pytest.raises(MalformedEnvelope, match=r"\[message\]"):
        parse_envelope(data)


def test_empty_file_is_refused() -> None:
    with pytest.raises(MalformedEnvelope, match="empty"):
        parse_envelope(b"")


def test_oversized_file_is_refused() -> None:
    data = sample("msg0000.txt") + b";" + b"x" * MAX_ENVELOPE_BYTES + b"\n"
    with pytest.raises(MalformedEnvelope, match="larger than"):
        parse_envelope(data)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"Alice Internal" <1001>', ("Alice Internal", "1001")),
        ("+12025550123", (None, "+12025550123")),
        ("Unknown", (None, None)),
        ("unknown", (None, None)),
        ("anonymous", (None, None)),
        ("Anonymous <anonymous>", (None, None)),
        ("", (None, None)),
        ("   ", (None, None)),
        ("<1001>", (None, "1001")),
        ("Bob Internal <1002>", ("Bob Internal", "1002")),
        ('"Quoted \\"Nick\\"" <1002>', ('Quoted "Nick"', "1002")),
        ('"Unknown" <+1 202 555 0123>', (None, "+1 202 555 0123")),
        ("Alice", ("Alice", None)),
        ('"Alice" <sip:alice@example.test>', ("Alice", None)),
        ('"Alice <1001>" <2001>', ("Alice <1001>", "2001")),
    ],
)
def test_parse_callerid_forms(raw: str, expected: tuple[str | None, str | None]) -> None:
    assert parse_callerid(raw) == expected


@pytest.mark.parametrize("name", SAMPLES)
def test_parse_callerid_handles_every_capture_form(name: str) -> None:
    callerid = parse_envelope(sample(name)).callerid
    parsed = parse_callerid(callerid)
    expected = {
        '"Alice Internal" <1001>': ("Alice Internal", "1001"),
        "+12025550123": (None, "+12025550123"),
        "Unknown": (None, None),
    }
    assert parsed == expected[callerid]
