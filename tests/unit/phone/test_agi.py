"""AGI replies and commands as Asterisk writes and reads them (captures q9, q9b, q9c)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from voicemail.ami.parser import AmiParser
from voicemail.phone import agi
from voicemail.phone.agi import parse_reply
from voicemail.phone.driver import parse_env


def capture_events(path: Path, name: str) -> list[dict[str, str]]:
    parser = AmiParser(expect_banner=True)
    return [{k: v for k, v in m.headers} for m in parser.feed(path.read_bytes()) if m.event == name]


def test_every_result_in_the_menu_captures_parses_as_asterisk_meant_it(captures: Path) -> None:
    results = {}
    for name in ("q9-phone-menu.rx.ami.txt", "q9b-phone-menu-hangup.rx.ami.txt",
                 "q9c-phone-menu-concurrent.rx.ami.txt"):
        for ev in capture_events(captures / name, "AsyncAGIExec"):
            results[ev["CommandId"]] = parse_reply(unquote(ev["Result"]))
    assert results["menu-pin"].digits == "4242" and not results["menu-pin"].timed_out
    assert results["menu-youhave"].key is None and results["menu-youhave"].endpos == 7253
    assert results["msg-play"].key in ("7", None)  # q9: '7' (55); q9b: the hangup (-1)
    assert results["msg-control"].key == "9" and results["msg-control"].endpos == 6000
    assert results["wait-digit"].key == "5" and results["wait-timeout"].key is None
    assert results["get-cidnum"].data == "1001"
    assert results["b-pin"].timed_out and results["b-pin"].digits == ""
    assert results["stream-missing"].hung_up  # result=-1: the session ends
    assert not any(r.hung_up for cid, r in results.items() if cid not in ("stream-missing", "msg-play"))


def test_hangup_during_stream_file_is_result_minus_one(captures: Path) -> None:
    [play] = [ev for ev in capture_events(captures / "q9b-phone-menu-hangup.rx.ami.txt", "AsyncAGIExec")
              if ev["CommandId"] == "msg-play"]
    reply = parse_reply(unquote(play["Result"]))
    assert reply.hung_up and reply.endpos == 32000 and reply.key is None


def test_async_agi_start_env_is_decoded(captures: Path) -> None:
    [start] = capture_events(captures / "q9-phone-menu.rx.ami.txt", "AsyncAGIStart")
    env = parse_env(start["Env"])
    assert env["agi_channel"] == "Local/menu@vmphone-00000000;1"
    assert env["agi_context"] == "agilab" and env["agi_calleridname"] == "Alice Internal"
    assert "agi_arg_1" not in env  # AGI(agi:async) without arguments: not ours


@pytest.mark.parametrize(("line", "hung_up", "digits", "key"), [
    ("511 Command Not Permitted on a dead channel or intercept routine", True, "", None),
    ("510 Invalid or unknown command", False, "", None),
    ("200 result=12 (timeout)", False, "12", None),
    ("200 result=35 (dtmf) endpos=16000", False, "35", "#"),
    ("200 result=-1 (hangup) endpos=8000", True, "", None),
    ("", False, "", None),
    ("not an agi reply", False, "", None),
])
def test_odd_replies_never_raise(line: str, hung_up: bool, digits: str, key: str | None) -> None:
    reply = parse_reply(line)
    assert (reply.hung_up, reply.digits, reply.key) == (hung_up, digits, key)


def test_commands_match_what_the_lab_sent() -> None:
    assert agi.get_data("vm-password", 5000, 10) == "GET DATA vm-password 5000 10"
    assert agi.stream_file("vm-INBOX", "") == 'STREAM FILE vm-INBOX ""'
    assert agi.control_stream_file("/var/run/voicemail-stage/test-msg", "0123456789*#", 3000, "#", "*", "") == (
        'CONTROL STREAM FILE /var/run/voicemail-stage/test-msg "0123456789*#" 3000 "#" "*" ""')
    assert agi.say_datetime(1796324700, "ABdY 'digits/at' IMp", "America/New_York", "") == (
        """SAY DATETIME 1796324700 "" "ABdY 'digits/at' IMp" America/New_York""")


@pytest.mark.parametrize("bad", ["vm-x y", 'a"b', "a\nb", ""])
def test_a_sound_name_cannot_smuggle_arguments(bad: str) -> None:
    with pytest.raises(ValueError):
        agi.stream_file(bad)
