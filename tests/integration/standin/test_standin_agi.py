"""Async AGI on ``Local/agi@agilab/n`` (captures q4 and q4b)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from tests.integration.standin.standin_client import Ami, Frame, connected, events, reply, running
from voicemail.spool.envelope import parse_envelope


def _start_agi(ami: Ami, app: str, data: str, callerid: str) -> tuple[str, list[Frame]]:
    ami.send("Originate", ActionID="o", Channel="Local/agi@agilab/n", Application=app, Data=data,
             CallerID=callerid, Async="true")
    frames = ami.take(lambda fs: bool(events(fs, "AsyncAGIStart")), timeout=10)
    return events(frames, "AsyncAGIStart")[0].get("Channel") or "", frames


def _command(ami: Ami, channel: str, command: str, command_id: str) -> list[Frame]:
    ami.send("AGI", ActionID=f"a-{command_id}", Channel=channel, Command=command, CommandID=command_id)
    return ami.take(lambda fs: any(f.get("Event") == "AsyncAGIExec" and f.get("CommandId") == command_id
                                   for f in fs), timeout=10)


def test_async_agi_commands_run_in_order_and_hangup_ends_the_session(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin, connected(standin) as ami:
        channel, frames = _start_agi(ami, "Wait", "30", '"Alice Internal" <1001>')
        assert channel == "Local/agi@agilab-00000000;2"
        env = unquote(events(frames, "AsyncAGIStart")[0].get("Env") or "")
        assert env.startswith("agi_request: async\nagi_channel: Local/agi@agilab-00000000;2\nagi_language: en\n")
        assert "agi_callerid: 1001\nagi_calleridname: Alice Internal\n" in env and env.endswith("\n\n")
        assert reply(frames, "o").get("Message") == "Originate successfully queued"
        assert events(frames, "OriginateResponse")[0].get("Response") == "Success"

        got = _command(ami, channel, "GET VARIABLE CHANNEL", "cmd-var")
        assert reply(got, "a-cmd-var").raw == (b"Response: Success\r\nActionID: a-cmd-var\r\n"
                                                b"Message: Added AGI command to queue\r\n\r\n")
        start, end, done = events(got, "AGIExecStart")[0], events(got, "AGIExecEnd")[0], events(got, "AsyncAGIExec")[0]
        assert start.get("CommandId") == end.get("CommandId") != "cmd-var"
        assert (end.get("ResultCode"), end.get("Result")) == ("200", "Success")
        assert done.get("Result") == "200%20result%3D1%20(Local%2Fagi%40agilab-00000000%3B2)%0A"
        assert [k for k, _ in done.msg.headers][-2:] == ["Result", "CommandId"]

        streamed = _command(ami, channel, 'STREAM FILE hello-world ""', "cmd-stream")
        assert events(streamed, "AsyncAGIExec")[0].get("Result") == "200%20result%3D0%20endpos%3D11234%0A"
        unknown = _command(ami, channel, "FLY TO MOON", "cmd-x")
        assert events(unknown, "AsyncAGIExec")[0].get("Result") == "510%20Invalid%20or%20unknown%20command%0A"

        rest = _command(ami, channel, "HANGUP", "cmd-hangup") + ami.sync()
        assert events(rest, "AsyncAGIExec")[0].get("Result") == "200%20result%3D1%0A"
        assert events(rest, "AsyncAGIEnd") and len(events(rest, "Hangup")) == 2
        assert [f.get("Value") for f in rest if f.get("Variable") == "AGISTATUS"] == ["HANGUP"]
        assert [c.get("LastApplication") for c in events(rest, "Cdr")] == ["AGI", "Wait"]
        late = ami.action("AGI", "late", Channel=channel, Command="NOOP")
        assert late[0].raw == (b"Response: Error\r\nActionID: late\r\nMessage: Channel Local/agi@agilab-00000000;2 "
                               b"does not exist.\r\n\r\n")
        missing = ami.action("AGI", "m", Channel=channel)
        assert missing[0].get("Message") == "Both, Channel and Command are *required*"


def test_exec_voicemail_from_agi_records_until_the_other_half_hangs_up(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    with running(spool) as standin, connected(standin) as ami:
        channel, _ = _start_agi(ami, "Wait", "1", '"+12025550123" <+12025550123>')
        frames = _command(ami, channel, "EXEC VoiceMail 1001@default,su", "cmd-vm") + ami.sync()
    end = events(frames, "AGIExecEnd")[0]
    assert (end.get("ResultCode"), end.get("Result")) == ("200", "Unknown Result")
    assert events(frames, "AsyncAGIExec")[0].get("Result") == "200%20result%3D-1%0A"
    mw = events(frames, "MessageWaiting")[0]
    assert (mw.get("Channel"), mw.get("Mailbox"), mw.get("New")) == (channel, "1001@default", "1")
    assert events(frames, "AsyncAGIEnd")
    env = parse_envelope((spool / "default" / "1001" / "INBOX" / "msg0000.txt").read_bytes())
    assert (env.context, env.exten, env.priority, env.callerchan) == ("agilab", "agi", "3", channel)
    assert env.callerid == '"+12025550123" <+12025550123>'
    names = [f.get("Variable") for f in frames if f.get("Channel") == "none"]
    assert names[:2] == ["VM_NAME", "VM_DUR"]  # 1001 has an e-mail address
