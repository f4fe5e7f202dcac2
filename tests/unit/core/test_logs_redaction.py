"""Log lines (text and JSON) never carry an outside caller's number or name, message content or keys,
whatever the hostile value and whichever way it reaches the logger."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from voicemail.config import load_settings
from voicemail.domain.errors import ConfigError
from voicemail.domain.models import Caller, CallerKind
from voicemail.logs import setup_logging

OUTSIDE = "+1 (202) 555-0123"
HOSTILE_NAME = "Mallory O'Evil \u260e\u202e"
CALLERID = f'"{HOSTILE_NAME}" <{OUTSIDE}>'  # as Asterisk writes it in msgNNNN.txt
FORGERY = 'x"\nINFO voicemail.test: forged line\u2028\u202e'
PEM = ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIKHQ2Yq3z1cSVlJQ8vI0x6mA5w1VtQm3n0sQeYf0pXm9\n"
       "-----END PRIVATE KEY-----")
MESSAGE_ID = "5f0c2a8e-1b7d-4c3e-9a6f-0d2b8e7c1a45"


@pytest.fixture(params=["text", "json"])
def logged(request: pytest.FixtureRequest) -> Iterator[tuple[str, io.StringIO, logging.Logger]]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    setup_logging("DEBUG", request.param, stream)
    try:
        yield request.param, stream, logging.getLogger("voicemail.test")
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])


def _assert_clean(out: str) -> None:
    for leaked in ("555", "Mallory", "MC4CAQAw", "\u202e", "\u2028"):
        assert leaked not in out, (leaked, out)


def _lines(fmt: str, stream: io.StringIO) -> list[str]:
    text = stream.getvalue()
    if fmt == "json":
        return [json.loads(line)["message"] for line in text.splitlines()]
    return text.splitlines()


def test_outside_number_in_format_args_is_redacted(logged: tuple[str, io.StringIO, logging.Logger]) -> None:
    fmt, stream, log = logged
    log.warning("message %s from %s left", MESSAGE_ID, OUTSIDE)
    log.warning("dotted %s and plain %s", "202.555.0123", "2025550123")
    log.info("caller %s", "\uff0b\uff11\uff12\uff10\uff12\uff15\uff15\uff15\uff10\uff11\uff12\uff13")  # fullwidth
    out = stream.getvalue()
    assert "555" not in out and "\uff15\uff15\uff15" not in out
    assert MESSAGE_ID in out  # ids stay readable
    assert "[number]" in out
    assert len(_lines(fmt, stream)) == 3


def test_newlines_and_quotes_cannot_forge_a_record(logged: tuple[str, io.StringIO, logging.Logger]) -> None:
    fmt, stream, log = logged
    log.error("caller id %s; then %s", CALLERID, FORGERY)
    log.error("raw %r", "evil\r\nERROR voicemail: fake\x1b[31m")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    if fmt == "json":
        records = [json.loads(line) for line in lines]
        assert all(r["level"] == "ERROR" and r["logger"] == "voicemail.test" for r in records)
        assert "[callerid]" in records[0]["message"]
    else:
        assert lines[0].count(" ERROR voicemail.test: ") == 1 and "\x1b" not in lines[1]
    _assert_clean(stream.getvalue())


def test_exception_text_with_a_number_is_redacted(logged: tuple[str, io.StringIO, logging.Logger]) -> None:
    fmt, stream, log = logged
    try:
        raise ValueError(f"bad envelope line callerid={CALLERID}\n[SQL: INSERT INTO messages] "
                         f"[parameters: ('{HOSTILE_NAME}', '{OUTSIDE}')]")
    except ValueError:
        log.exception("scanning mailbox 1001@default failed")
    out = stream.getvalue()
    _assert_clean(out)
    assert "ValueError" in out and "1001@default" in out
    if fmt == "json":
        record = json.loads(out)
        assert "Traceback" in record["exception"] and "[parameters: redacted]" in record["exception"]
    else:
        first, *rest = out.splitlines()
        assert "ERROR voicemail.test: scanning" in first and all(line.startswith("    ") for line in rest)


def test_extra_fields_caller_keys_bytes_are_redacted(logged: tuple[str, io.StringIO, logging.Logger]) -> None:
    fmt, stream, log = logged
    log.info("sealed", extra={"caller_number": OUTSIDE, "caller_name": HOSTILE_NAME, "audio": b"RIFF" * 100,
                              "detail": f"from {OUTSIDE}", "message_id": MESSAGE_ID, "size": 4096,
                              "kek": "k-1", "pem": PEM, "who": Caller(CallerKind.EXTERNAL),
                              "nested": {"number": OUTSIDE, "ok": "fine"}})
    log.info("key material %s and audio %s", PEM, b"\x00\x01secret-audio")
    out = stream.getvalue()
    _assert_clean(out)
    assert "secret-audio" not in out and "RIFF" not in out
    if fmt == "json":
        record = json.loads(out.splitlines()[0])
        assert record["caller_number"] == record["caller_name"] == record["kek"] == "[redacted]"
        assert record["detail"] == "from [number]" and record["message_id"] == MESSAGE_ID
        assert record["size"] == 4096 and record["who"] == "[outside caller]"
        assert record["nested"] == {"number": "[redacted]", "ok": "fine"}
        second = json.loads(out.splitlines()[1])["message"]
        assert "[key]" in second and "[14 bytes]" in second


def test_dates_times_digests_and_short_counts_survive(logged: tuple[str, io.StringIO, logging.Logger]) -> None:
    _, stream, log = logged
    digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    log.info("checkpoint at 2026-12-04T07:39:15+00:00 seq 1234 head %s; 3 of 12 mailboxes; host 10.0.0.12:5038",
             digest)
    log.info("msg_id %s took %ss", "1795978545-00000000", 0.012345678)
    log.info("msg_id %s (Asterisk counts in hex)", "1795978545-0000002a")
    out = stream.getvalue()
    for kept in ("2026-12-04T07:39:15+00:00", "1234", digest, "3 of 12", "10.0.0.12:5038", "1795978545-00000000",
                 "1795978545-0000002a", "0.012345678s"):
        assert kept in out, (kept, out)
    assert "[number]" not in out and "[key]" not in out


def test_bad_format_arguments_do_not_lose_the_line_nor_show_the_argument(
        logged: tuple[str, io.StringIO, logging.Logger]) -> None:
    _, stream, log = logged
    log.warning("two %s %s placeholders", OUTSIDE)
    out = stream.getvalue()
    assert "unformattable" in out and "555" not in out


def test_log_format_setting_accepts_text_and_json_only() -> None:
    assert load_settings(environ={"VOICEMAIL_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="log_format"):
        load_settings(environ={"VOICEMAIL_LOG_FORMAT": "xml"})
