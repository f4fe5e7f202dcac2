"""AGI commands of a voicemail menu beyond the basics: CONTROL STREAM FILE, SAY, RECORD FILE, GET DATA
limits, variables, the command queue and its timing, two menus on one AMI session (res_agi.c and
app.c of Asterisk 22.10.1, captures q9 and q9c)."""

from __future__ import annotations

import json
import time
import wave
from pathlib import Path

from tests.integration.standin.phone_helpers import call_menu, command, result, send_command
from tests.integration.standin.standin_client import Frame, connected, events, running
from voicemail.standin.audio import pcm_wav


def _stage(tmp_path: Path, seconds: float) -> Path:
    stage = tmp_path / "stage"
    stage.mkdir(exist_ok=True)
    (stage / "msg.wav").write_bytes(pcm_wav(bytes(2 * int(8000 * seconds))))
    return stage / "msg"


def _vars(frames: list[Frame]) -> list[tuple[str | None, str | None]]:
    return [(f.get("Variable"), f.get("Value")) for f in events(frames, "VarSet")]


def test_control_stream_file_fast_forward_wins_over_escape_and_stop_reports_milliseconds(tmp_path: Path) -> None:
    msg = _stage(tmp_path, 9.875)
    callers = {"cs": "Wait(1),SendDTMF(#),Wait(1.55),SendDTMF(9),Wait(30),Hangup"}
    with running(tmp_path / "vm", timing="lab", callers=callers) as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "cs")
        frames = command(ami, channel, f'CONTROL STREAM FILE {msg} "0123456789*#" 3000 "#" "*" ""', "c")
        line = result(frames, "c")
        assert line.startswith("200 result=57 endpos=")
        ms = int(line.split("endpos=")[1])
        assert 6000 <= ms <= 7200 and ms % 20 == 0  # ~3.7 s heard + 3 s skipped
        assert _vars(frames) == [("CPLAYBACKSTATUS", "USERSTOPPED"), ("CPLAYBACKSTOPKEY", "9"),
                                 ("CPLAYBACKOFFSET", str(ms))]
        begin = [f for f in events(frames, "CEL") if f.get("EventName") == "STREAM_BEGIN"]
        assert json.loads(begin[0].get("Extra") or "")["sound"] == str(msg)


def test_control_stream_file_to_the_end_and_of_a_missing_file(tmp_path: Path) -> None:
    msg = _stage(tmp_path, 0.5)
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "silent")
        done = command(ami, channel, f'CONTROL STREAM FILE {msg} "" 3000', "end")
        assert result(done, "end") == "200 result=0 endpos=-1\n"
        assert _vars(done) == [("CPLAYBACKSTATUS", "SUCCESS"), ("CPLAYBACKOFFSET", "-1")]
        missing = command(ami, channel, f'CONTROL STREAM FILE {msg}-gone ""', "gone") + ami.sync()
        assert result(missing, "gone") == "200 result=-1 endpos=0\n"
        assert ("CPLAYBACKSTATUS", "ERROR") in _vars(missing) and ("AGISTATUS", "FAILURE") in _vars(missing)


def test_say_commands_play_the_files_say_c_would(tmp_path: Path) -> None:
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "silent")

        def played(text: str, cid: str) -> list[str]:
            frames = command(ami, channel, text, cid)
            assert result(frames, cid) == "200 result=0\n"
            assert not [f for f in frames if f.get("Variable") == "PLAYBACKSTATUS"]
            return [json.loads(f.get("Extra") or "")["sound"] for f in events(frames, "CEL")
                    if f.get("EventName") == "STREAM_BEGIN"]

        assert played('SAY NUMBER 2 ""', "n") == ["digits/2"]
        assert played('SAY NUMBER 115 ""', "n2") == ["digits/1", "digits/hundred", "digits/15"]
        assert played('SAY DIGITS 12025550123 ""', "d") == [f"digits/{c}" for c in "12025550123"]
        assert played("SAY DATETIME 1796324700 \"\" \"ABdY 'digits/at' IMp\" America/New_York", "t") == [
            "digits/day-4", "digits/mon-11", "digits/h-3", "digits/2", "digits/thousand", "digits/20",
            "digits/6", "digits/at", "digits/2", "digits/oh", "digits/5", "digits/p-m"]
        usage = command(ami, channel, "SAY NUMBER two", "u")
        assert result(usage, "u").startswith("520 ")
        assert events(usage, "AGIExecEnd")[0].get("Result") == "Usage"


def test_say_digits_stops_on_an_escape_digit(tmp_path: Path) -> None:
    callers = {"esc": "Wait(1),SendDTMF(3),Wait(30),Hangup"}
    with running(tmp_path / "vm", timing="lab", callers=callers) as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "esc")
        frames = command(ami, channel, 'SAY DIGITS 12025550123 "3"', "d")
        assert result(frames, "d") == "200 result=51\n"
        assert len([f for f in events(frames, "CEL") if f.get("EventName") == "STREAM_BEGIN"]) < 5


def test_record_file_writes_the_file_and_reports_how_it_ended(tmp_path: Path) -> None:
    rec = tmp_path / "greetings"
    rec.mkdir()
    callers = {"rec": "Wait(2),SendDTMF(#),Wait(30),Hangup"}
    with running(tmp_path / "vm", timing="lab", callers=callers) as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "rec")
        frames = command(ami, channel, f'RECORD FILE {rec}/unavail wav "#" 10000 0 BEEP', "r")
        line = result(frames, "r")
        assert line.startswith("200 result=35 (dtmf) endpos=")
        samples = int(line.split("endpos=")[1])
        assert 8000 <= samples <= 16000  # ~2.3 s after the beep, less the 200 ms cut
        with wave.open(str(rec / "unavail.wav")) as w:
            assert (w.getframerate(), w.getsampwidth(), w.getnchannels(), w.getnframes()) == (8000, 2, 1, samples)
        beep = [f for f in events(frames, "CEL") if f.get("EventName") == "STREAM_BEGIN"]
        assert json.loads(beep[0].get("Extra") or "")["sound"] == "beep"
        timed = command(ami, channel, f'RECORD FILE {rec}/busy wav "#" 1000', "t")
        assert result(timed, "t") == "200 result=0 (timeout) endpos=8000\n"
        assert (rec / "busy.wav").stat().st_size == 44 + 16000
        nowhere = command(ami, channel, f'RECORD FILE {tmp_path}/missing/dir/x wav "#" 1000', "w") + ami.sync()
        assert result(nowhere, "w") == "200 result=-1 (writefile)\n"
        assert ("AGISTATUS", "FAILURE") in _vars(nowhere)


def test_record_file_ends_with_hangup_when_the_caller_hangs_up(tmp_path: Path) -> None:
    rec = tmp_path / "greetings"
    rec.mkdir()
    callers = {"bye": "Wait(1.5),Hangup"}
    with running(tmp_path / "vm", timing="lab", callers=callers) as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "bye")
        frames = command(ami, channel, f'RECORD FILE {rec}/name wav "#" 20000', "r") + ami.sync()
        line = result(frames, "r")
        assert line.startswith("200 result=-1 (hangup) endpos=")
        assert (rec / "name.wav").is_file()
        assert [f.get("ResultCode") for f in events(frames, "AGIExecEnd")] == ["-1"]


def test_get_data_stops_at_max_digits_and_a_lone_hash_is_empty(tmp_path: Path) -> None:
    callers = {"d": "Wait(1),SendDTMF(12345),Wait(2),SendDTMF(#),Wait(2),SendDTMF(#),Wait(30),Hangup"}
    with running(tmp_path / "vm", timing="lab", callers=callers) as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "d")
        first = command(ami, channel, "GET DATA beep 5000 3", "three")
        assert result(first, "three") == "200 result=123\n"
        rest = command(ami, channel, "GET DATA beep 5000 10", "rest")
        assert result(rest, "rest") == "200 result=45\n"  # the caller's next keys, ended by '#'
        empty = command(ami, channel, "GET DATA beep 5000 10", "hash")
        assert result(empty, "hash") == "200 result=\n"
        gone = command(ami, channel, "GET DATA no-such-prompt 100", "missing")
        assert result(gone, "missing") == "200 result=-1\n"


def test_variables_queue_order_and_pickup_delay(tmp_path: Path) -> None:
    with running(tmp_path / "vm", timing="lab") as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "silent")
        t0 = time.monotonic()
        send_command(ami, channel, "SET VARIABLE MENU_STATE pin", "set")
        first = ami.take(lambda fs: bool(events(fs, "AGIExecStart")), timeout=5)
        delay = time.monotonic() - t0
        assert 0.0 < delay < 0.2  # res_agi picks a command up within one 100 ms wait
        send_command(ami, channel, "GET VARIABLE MENU_STATE", "get")
        send_command(ami, channel, "GET VARIABLE CALLERID(num)", "cid")
        frames = first + ami.take(lambda fs: any(f.get("CommandId") == "cid" for f in events(fs, "AsyncAGIExec")))
        assert [f.get("CommandId") for f in events(frames, "AsyncAGIExec")] == ["set", "get", "cid"]
        assert [result(frames, c) for c in ("set", "get", "cid")] == [
            "200 result=1\n", "200 result=1 (pin)\n", "200 result=1 (1001)\n"]
        unset = command(ami, channel, "GET VARIABLE NOT_SET_HERE", "unset")
        assert result(unset, "unset") == "200 result=0\n"


def test_two_menus_on_one_session_are_kept_apart(tmp_path: Path) -> None:
    with running(tmp_path / "vm", timing="lab") as standin, connected(standin) as ami:
        ami.send("Originate", ActionID="oa", Channel="Local/pin@vmphone/n", Context="vmmenu", Exten="1001",
                 CallerID='"Alice Internal" <1001>', Async="true")
        ami.send("Originate", ActionID="ob", Channel="Local/silent@vmphone/n", Context="vmmenu", Exten="1002",
                 CallerID='"Bob Internal" <1002>', Async="true")
        starts = ami.take(lambda fs: len(events(fs, "AsyncAGIStart")) == 2, timeout=10)
        a, b = (events(starts, "AsyncAGIStart")[i].get("Channel") or "" for i in (0, 1))
        assert {a, b} == {"Local/pin@vmphone-00000000;1", "Local/silent@vmphone-00000001;1"}
        a, b = sorted((a, b), key=lambda c: "silent" in c)
        send_command(ami, a, "GET DATA vm-password 5000 10", "a-pin")
        send_command(ami, b, "GET DATA vm-password 5000 10", "b-pin")
        frames = ami.take(lambda fs: len(events(fs, "AsyncAGIExec")) == 2, timeout=15)
        done = {f.get("CommandId"): (f.get("Channel"), f.get("Result")) for f in events(frames, "AsyncAGIExec")}
        assert done == {"a-pin": (a, "200%20result%3D4242%0A"), "b-pin": (b, "200%20result%3D%20(timeout)%0A")}
        assert {f.get("Channel") for f in events(frames, "DTMFEnd")} == {a}
        for channel, cid in ((a, "a-bye"), (b, "b-bye")):
            assert result(command(ami, channel, "HANGUP", cid), cid) == "200 result=1\n"


def test_get_option_waits_for_a_key_after_the_prompt_and_ignores_others(tmp_path: Path) -> None:
    callers = {"opt": "Wait(1.5),SendDTMF(5),Wait(1),SendDTMF(9),Wait(30),Hangup"}
    with running(tmp_path / "vm", timing="lab", callers=callers) as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "opt")
        beep = "3386"  # samples of beep (0.4233 s)
        first = command(ami, channel, 'GET OPTION beep "5" 3000', "five")
        assert result(first, "five") == f"200 result=53 endpos={beep}\n"
        other = command(ami, channel, 'GET OPTION beep "1" 2000', "nine")
        assert result(other, "nine") == f"200 result=0 endpos={beep}\n"
        missing = command(ami, channel, 'GET OPTION no-such-prompt "1"', "gone") + ami.sync()
        assert result(missing, "gone") == "200 result=-1 endpos=0\n"
        assert ("AGISTATUS", "FAILURE") in _vars(missing)


def test_say_alpha_spells_with_letters_and_digits(tmp_path: Path) -> None:
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "silent")
        frames = command(ami, channel, 'SAY ALPHA Ab1@ ""', "a")
        assert result(frames, "a") == "200 result=0\n"
        assert [json.loads(f.get("Extra") or "")["sound"] for f in events(frames, "CEL")
                if f.get("EventName") == "STREAM_BEGIN"] == ["letters/a", "letters/b", "digits/1", "letters/at"]


def test_record_file_records_what_the_caller_plays(tmp_path: Path) -> None:
    rec = tmp_path / "greetings"
    rec.mkdir()
    voice = tmp_path / "voice"
    tone = b"".join(int(3000 * ((i % 16) - 8)).to_bytes(2, "little", signed=True) for i in range(8000))
    voice.with_suffix(".wav").write_bytes(pcm_wav(tone))  # 1 s of a loud saw tooth
    callers = {"talk": f"Wait(0.5),Playback({voice}),Wait(0.5),SendDTMF(#),Wait(30),Hangup"}
    with running(tmp_path / "vm", timing="lab", callers=callers) as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "talk")
        frames = command(ami, channel, f'RECORD FILE {rec}/greet wav "#" 10000', "r")
        assert result(frames, "r").startswith("200 result=35 (dtmf) endpos=")
        with wave.open(str(rec / "greet.wav")) as w:
            pcm = w.readframes(w.getnframes())
        loud = sum(1 for i in range(0, len(pcm), 2) if abs(int.from_bytes(pcm[i:i + 2], "little", signed=True)) > 1000)
        assert 6000 <= loud <= 8000  # the caller's second of tone, give or take a frame
