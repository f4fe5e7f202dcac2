"""The caller side of a voicemail-menu call: the lab's vmphone callers, scripted callers, AGI arguments,
DTMF timing and the AGI commands a menu uses (captures q9, q9b, q9c; res_agi.c of Asterisk 22.10.1)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from tests.integration.standin.phone_helpers import call_menu, command, env, result, send_command
from tests.integration.standin.standin_client import Frame, connected, events, running
from voicemail.domain.errors import ConfigError, InvalidInput
from voicemail.standin import StandinConfig


def test_menu_entry_passes_mailbox_as_agi_arguments(tmp_path: Path) -> None:
    with running(tmp_path / "vm", callers={"c1": "Wait(5),Hangup"}) as standin, connected(standin) as ami:
        channel, frames = call_menu(ami, "c1", exten="1001", context="vmmenu")
        assert channel == "Local/c1@vmphone-00000000;1"
        got = env(frames)
        assert (got["agi_arg_1"], got["agi_arg_2"]) == ("voicemail-menu", "1001@default")
        assert (got["agi_context"], got["agi_extension"], got["agi_priority"]) == ("vmmenu", "1001", "3")
        start = events(frames, "AsyncAGIStart")[0]
        assert "agi_threadid%3A%20" in (start.get("Env") or "")
        assert (start.get("Env") or "").endswith("agi_arg_2%3A%201001%40default%0A%0A")
        agi_step = [f for f in events(frames, "Newexten") if f.get("Application") == "AGI"]
        assert agi_step[0].get("AppData") == "agi:async,voicemail-menu,1001@default"
        _hotdesk, frames = call_menu(ami, "c1", exten="SEP001122334455", context="vmhotdesk", action_id="o2")
        got = env(frames)
        assert (got["agi_arg_1"], got["agi_arg_2"]) == ("extension-mobility", "SEP001122334455")
        _plain, frames = call_menu(ami, "c1", exten="menu", context="vmmenu", action_id="o3")
        assert "agi_arg_2" not in env(frames) and env(frames)["agi_arg_1"] == "voicemail-menu"


def test_lab_caller_pin_reaches_get_data_on_the_lab_schedule(tmp_path: Path) -> None:
    with running(tmp_path / "vm", timing="lab") as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "pin")
        t0 = time.monotonic()
        frames = command(ami, channel, "GET DATA vm-password 5000 10", "pin")
        elapsed = time.monotonic() - t0
        assert result(frames, "pin") == "200 result=4242\n"
        begins = events(frames, "DTMFBegin")
        ends = events(frames, "DTMFEnd")
        assert [f.get("Digit") for f in ends] == ["4", "2", "4", "2", "#"]
        assert all(f.get("Channel") == channel and f.get("Direction") == "Received" for f in begins + ends)
        assert all(f.get("DurationMs") == "100" for f in ends)
        dtmf_cels = [f for f in events(frames, "CEL") if f.get("EventName") == "DTMF"]
        assert next(f.get("Extra") for f in dtmf_cels) == '{"digit":"4","duration_ms":100}'
        caller_steps = [f.get("Application") for f in events(frames, "Newexten") if f.get("Channel") != channel]
        assert caller_steps[:2] == ["Wait", "SendDTMF"]
        assert 4.2 < elapsed < 5.0  # '#' ends at caller-t 4.0 = t0 + 4.5 (q9)


def test_scripted_caller_escape_digit_interrupts_stream_file(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "msg.wav").write_bytes(_wav(8000 * 6))  # 6 s
    callers = {"k": "Wait(2),SendDTMF(7),Wait(30),Hangup"}
    with running(tmp_path / "vm", timing="lab", callers=callers) as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "k")
        frames = command(ami, channel, f'STREAM FILE {stage}/msg "0123456789*#"', "play")
        line = result(frames, "play")
        assert line.startswith("200 result=55 endpos=")
        endpos = int(line.split("endpos=")[1])
        assert endpos % 160 == 0 and 16000 <= endpos <= 23000  # 2.0-2.9 s into the message, in samples
        assert [f.get("Value") for f in frames if f.get("Variable") == "PLAYBACKSTATUS"] == ["FAILED"]
        full = command(ami, channel, 'STREAM FILE vm-youhave ""', "full")
        assert result(full, "full") == "200 result=0 endpos=7253\n"
        assert [f.get("Value") for f in full if f.get("Variable") == "PLAYBACKSTATUS"] == ["SUCCESS"]


def test_silent_caller_get_data_times_out_and_wait_for_digit_gives_zero(tmp_path: Path) -> None:
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "silent")
        frames = command(ami, channel, "GET DATA vm-password 5000 10", "pin")
        assert result(frames, "pin") == "200 result= (timeout)\n"
        assert frames[-1].raw.split(b"\r\n")[-4] == b"Result: 200%20result%3D%20(timeout)%0A"
        waited = command(ami, channel, "WAIT FOR DIGIT 3000", "w")
        assert result(waited, "w") == "200 result=0\n"
        bye = command(ami, channel, "HANGUP", "bye") + ami.sync()
        assert result(bye, "bye") == "200 result=1\n"
        assert [f.get("Cause") for f in events(bye, "Hangup")] == ["0", "0"]


def test_missing_prompt_ends_the_agi_session_and_the_dialplan_continues(tmp_path: Path) -> None:
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "silent")
        frames = command(ami, channel, 'STREAM FILE no-such-prompt ""', "x") + ami.sync()
        assert result(frames, "x") == "200 result=-1 endpos=0\n"
        end = events(frames, "AGIExecEnd")[0]
        assert (end.get("ResultCode"), end.get("Result")) == ("-1", "Failure")
        assert events(frames, "AsyncAGIEnd")
        assert [f.get("Value") for f in frames if f.get("Variable") == "AGISTATUS"] == ["FAILURE"]
        assert "AGISTATUS=FAILURE" in [f.get("AppData") for f in events(frames, "Newexten")]
        assert sorted(f.get("Cause") or "" for f in events(frames, "Hangup")) == ["16", "16"]
        late = ami.action("AGI", "late", Channel=channel, Command="HANGUP")
        assert late[0].get("Message") == f"Channel {channel} does not exist."


def test_missing_staged_file_is_checked_when_the_command_runs(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "silent")
        (stage / "m.wav").write_bytes(_wav(800))
        ok = command(ami, channel, f'STREAM FILE {stage}/m ""', "ok")
        assert result(ok, "ok") == "200 result=0 endpos=800\n"
        (stage / "m.wav").unlink()
        gone = command(ami, channel, f'STREAM FILE {stage}/m ""', "gone")
        assert result(gone, "gone") == "200 result=-1 endpos=0\n"


def test_caller_hanging_up_mid_stream_drops_queued_commands(tmp_path: Path) -> None:
    callers = {"h": "Wait(1),Hangup"}
    with running(tmp_path / "vm", timing="lab", callers=callers) as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "h")
        send_command(ami, channel, 'STREAM FILE custom/lab-message ""', "long")
        send_command(ami, channel, 'STREAM FILE vm-goodbye ""', "queued")
        frames = ami.take(lambda fs: any(f.get("Event") == "AsyncAGIExec" for f in fs), timeout=10)
        frames += ami.sync()
        replies = [f for f in frames if f.get("ActionID") in ("a-long", "a-queued")]
        assert [f.get("Message") for f in replies] == ["Added AGI command to queue"] * 2
        line = result(frames, "long")
        assert line.startswith("200 result=-1 endpos=") and int(line.split("endpos=")[1]) > 0
        assert [f.get("ResultCode") for f in events(frames, "AGIExecEnd")] == ["-1"]
        assert not any(f.get("CommandId") == "queued" for f in events(frames, "AsyncAGIExec"))
        assert len(events(frames, "AGIExecStart")) == 1
        assert [f.get("Value") for f in frames if f.get("Variable") == "AGISTATUS"] == ["HANGUP"]
        assert sorted(f.get("Cause") or "" for f in events(frames, "Hangup")) == ["16", "16"]
        late = ami.action("AGI", "late", Channel=channel, Command="HANGUP")
        assert late[0].get("Message") == f"Channel {channel} does not exist."


def test_bad_caller_scripts_are_refused() -> None:
    for script in ("Wait(2", "Dial(SIP/x)", "SendDTMF(12x)", "Wait(soon)"):
        with pytest.raises(ConfigError):
            StandinConfig(spool_dir=Path("/tmp/unused"), callers={"c": script}).validated()
    with pytest.raises(ConfigError):
        StandinConfig(spool_dir=Path("/tmp/unused"), callers={"../x": "Hangup"}).validated()


def _wav(samples: int) -> bytes:
    from voicemail.standin.audio import pcm_wav

    return pcm_wav(bytes(2 * samples))


def test_call_in_hands_a_call_to_the_menu_without_an_originate(tmp_path: Path) -> None:
    with running(tmp_path / "vm", callers={"p": "Wait(50),Hangup"}) as standin, connected(standin) as ami:
        channel = standin.call_in("p", exten="1001", callerid='"Alice Internal" <1001>')
        assert channel == "Local/p@vmphone-00000000;1"
        frames = ami.take(lambda fs: bool(events(fs, "AsyncAGIStart")))
        assert not events(frames, "OriginateResponse")
        got = env(frames)
        assert (got["agi_callerid"], got["agi_arg_2"]) == ("1001", "1001@default")
        assert result(command(ami, channel, "HANGUP", "bye"), "bye") == "200 result=1\n"
        for bad in ({"caller": "nobody"}, {"caller": "p", "exten": "x y"}, {"caller": "p", "context": "vmlab"}):
            with pytest.raises(InvalidInput):
                standin.call_in(**bad)


def test_send_dtmf_timing_matches_the_lab(tmp_path: Path) -> None:
    callers = {"t": "Wait(0.5),SendDTMF(123),Wait(30),Hangup"}
    with running(tmp_path / "vm", timing="lab", callers=callers) as standin, connected(standin) as ami:
        channel, _ = call_menu(ami, "t")
        send_command(ami, channel, "WAIT FOR DIGIT -1", "any")
        stamps: dict[str, float] = {}

        def watch(frames: list[Frame]) -> bool:
            for f in frames:
                key = f"{f.get('Event')}:{f.get('Digit') or f.get('Application')}"
                stamps.setdefault(key, time.monotonic())
            return "DTMFEnd:3" in stamps

        ami.until(watch, timeout=10)
        start = stamps["Newexten:SendDTMF"]
        ends = [stamps[f"DTMFEnd:{d}"] - start for d in "123"]
        begins = [stamps[f"DTMFBegin:{d}"] - start for d in "123"]
        assert abs(ends[0] - 0.2) < 0.08 and abs(begins[0] - 0.1) < 0.08
        assert all(abs(b - a - 0.35) < 0.08 for a, b in itertools.pairwise(ends))
