"""AMI session behaviour: banner, login, permissions, Ping, event masks, errors, hostile input, and the
test hooks (drop_connections, pause_replies)."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

from tests.integration.standin.standin_client import Ami, connected, events, reply, running


def test_banner_login_and_logoff_are_exactly_asterisks(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin:
        ami = Ami(standin.port)
        assert ami.banner == b"Asterisk Call Manager/11.0.0\r\n"
        frames = ami.login()
        assert frames[0].raw == b"Response: Success\r\nActionID: login\r\nMessage: Authentication accepted\r\n\r\n"
        assert re.fullmatch(rb"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: \d+\r\nLastReload: \d+\r\n"
                            rb"Status: Fully Booted\r\n\r\n", frames[1].raw)
        auth = frames[2]
        assert [k for k, _ in auth.msg.headers] == [
            "Event", "Privilege", "SystemName", "EventTV", "Severity", "Service", "EventVersion", "AccountID",
            "SessionID", "LocalAddress", "RemoteAddress", "UsingPassword", "SessionTV"]
        assert auth.get("RemoteAddress") == f"IPV4/TCP/127.0.0.1/{ami.sock.getsockname()[1]}"
        assert auth.get("LocalAddress") == f"IPV4/TCP/127.0.0.1/{standin.port}"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", auth.get("EventTV") or "")
        again = ami.action("Login", "again", Username="lab", Secret="labsecret")
        assert again[0].raw == b"Response: Success\r\nActionID: again\r\nMessage: Already authenticated\r\n\r\n"
        bye = ami.action("Logoff", "bye")
        assert bye[0].raw == b"Response: Goodbye\r\nActionID: bye\r\nMessage: Thanks for all the fish.\r\n\r\n"
        assert ami.wait_closed()


def test_a_wrong_secret_is_refused_and_the_connection_closed(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin, connected(standin) as watcher:
        ami = Ami(standin.port)
        ami.send("Login", ActionID="x", Username="lab", Secret="wrong")
        frames = ami.until(lambda fs: len(fs) == 1)
        assert frames[0].raw == b"Response: Error\r\nActionID: x\r\nMessage: Authentication failed\r\n\r\n"
        assert ami.wait_closed()
        assert reply(watcher.action("Ping", "still"), "still").get("Ping") == "Pong"


def test_actions_before_login_are_denied(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin:
        ami = Ami(standin.port)
        for action in ("Ping", "MailboxCount", "Originate", "NoSuchThing"):
            frames = ami.action(action, "early", Mailbox="1001")
            assert frames[0].raw == b"Response: Error\r\nActionID: early\r\nMessage: Permission denied\r\n\r\n"
        frames = ami.action("Logoff", "bye")
        assert frames[0].get("Response") == "Goodbye"
        assert ami.wait_closed()


def test_ping_answers_pong_with_a_timestamp(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin, connected(standin) as ami:
        raw = reply(ami.action("Ping", "p1"), "p1").raw
        ami.send_raw(b"Action: Ping\r\n\r\n")
        no_id = ami.until(lambda fs: len(fs) == 1)[0].raw
    assert re.fullmatch(rb"Response: Success\r\nActionID: p1\r\nPing: Pong\r\nTimestamp: \d{10}\.\d{6}\r\n\r\n", raw)
    assert re.fullmatch(rb"Response: Success\r\nPing: Pong\r\nTimestamp: \d{10}\.\d{6}\r\n\r\n", no_id)
    stamp = float(re.search(rb"Timestamp: (\S+)", raw).group(1))  # type: ignore[union-attr]
    assert abs(stamp - time.time()) < 60


def test_unknown_action_answers_like_mwiget_did_in_q1(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin, connected(standin) as ami:
        frames = ami.action("MWIGet", "lab-004", Mailbox="1001@default") + ami.sync()
    assert frames[0].raw == (b"Response: Error\r\nActionID: lab-004\r\nMessage: Invalid/unknown command: MWIGet. "
                             b"Use Action: ListCommands to show available commands.\r\n\r\n")
    bad = events(frames, "RequestBadFormat")[0]
    assert [k for k, _ in bad.msg.headers] == [
        "Event", "Privilege", "SystemName", "EventTV", "Severity", "Service", "EventVersion", "SessionID",
        "LocalAddress", "RemoteAddress", "RequestType", "SessionTV", "AccountID"]
    assert (bad.get("Privilege"), bad.get("Severity"), bad.get("RequestType"), bad.get("AccountID")) == (
        "security,all", "Error", "Action: MWIGet", "lab")


def test_event_masks_select_what_a_session_receives(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin:
        quiet = Ami(standin.port)
        login = quiet.login("off")
        assert [f.get("Message") for f in login] == ["Authentication accepted"]  # no FullyBooted either
        calls = Ami(standin.port)
        calls.login("call")
        everything = Ami(standin.port)
        everything.login("on")
        standin.leave_message("1001")
        assert quiet.sync() == []
        names = {f.get("Event") for f in calls.sync()}
        assert "MessageWaiting" in names and "Newchannel" in names
        assert names.isdisjoint({"VarSet", "Newexten", "Cdr"})
        assert {"VarSet", "Newexten", "Cdr", "MessageWaiting"} <= {f.get("Event") for f in everything.sync()}
        on = quiet.action("Events", "ev", EventMask="on")
        assert on[0].raw == b"Response: Success\r\nActionID: ev\r\nEvents: On\r\n\r\n"
        standin.leave_message("1001")
        assert events(quiet.sync(), "MessageWaiting")
        off = quiet.action("Events", "ev2", EventMask="off")
        assert off[0].raw == b"Response: Success\r\nActionID: ev2\r\nEvents: Off\r\n\r\n"
        for ami in (quiet, calls, everything):
            ami.close()


def test_hostile_frames_close_only_that_session(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin, connected(standin) as watcher:
        flood = Ami(standin.port)
        flood.login()
        flood.send_raw(b"Action: Ping\r\nX: " + b"A" * 200_000)  # no end of frame in sight
        assert flood.wait_closed()

        junk = Ami(standin.port)
        junk.login()
        junk.send_raw(b"\x00\xff\xfe garbage without colon\r\n\xc3\x28: \xff\r\n\r\n")
        assert junk.until(lambda fs: len(fs) == 1)[0].raw == (b"Response: Error\r\nMessage: Missing action in "
                                                               b"request\r\n\r\n")
        many = "".join(f"H{i}: v\r\n" for i in range(5000)).encode()
        junk.send_raw(b"Action: Ping\r\nActionID: many\r\n" + many + b"\r\n")
        assert reply(junk.take(lambda fs: any(f.get("ActionID") == "many" for f in fs)), "many").get("Ping") == "Pong"
        junk.send_raw(b"Action: Ping\nActionID: lf\n\n")  # bare LF line ends are accepted from clients
        assert reply(junk.take(lambda fs: any(f.get("ActionID") == "lf" for f in fs)), "lf").get("Ping") == "Pong"
        originate = junk.action("Originate", "o1")
        assert originate[0].raw == b"Response: Error\r\nActionID: o1\r\nMessage: Channel not specified\r\n\r\n"

        half = socket.create_connection(("127.0.0.1", standin.port))
        half.sendall(b"Action: Login\r\nUser")
        half.close()  # gone mid-frame
        assert reply(watcher.action("Ping", "alive"), "alive").get("Ping") == "Pong"
        assert standin.leave_message("1001") is not None
        junk.close()


def test_drop_connections_closes_every_session_and_new_ones_are_served(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin:
        first, second = Ami(standin.port), Ami(standin.port)
        first.login()
        second.login()
        assert standin.session_count() == 2
        standin.drop_connections()
        assert first.wait_closed() and second.wait_closed()
        deadline = time.monotonic() + 5
        while standin.session_count() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert standin.session_count() == 0
        with connected(standin) as again:
            assert standin.session_count() == 1
            assert reply(again.action("Ping", "p"), "p").get("Ping") == "Pong"


def test_paused_replies_hold_answers_and_events_until_resumed(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin, connected(standin) as ami:
        standin.pause_replies(True)
        ami.send("Ping", ActionID="held")
        assert standin.leave_message("1001") is not None  # the call still happens
        ami._recv(0.5)
        ami._split()
        assert ami.frames == [] and ami.buf == b""
        standin.pause_replies(False)
        frames = ami.until(lambda fs: any(f.get("ActionID") == "held" for f in fs))
        assert events(frames, "MessageWaiting")


def test_originate_of_an_unknown_local_target_fails_after_being_queued(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin, connected(standin) as ami:
        frames = ami.action("Originate", "o", Channel="Local/nope@nowhere/n", Application="VoiceMail",
                            Data="1001@default,su", Async="true") + ami.sync()
        sync = ami.action("Originate", "s", Channel="Local/play@vmlab/n", Application="VoiceMail",
                          Data="1001@default,su", timeout=10)
        after = ami.until(lambda fs: bool(events(fs, "MessageWaiting")), timeout=10)
    assert frames[0].raw == b"Response: Success\r\nActionID: o\r\nMessage: Originate successfully queued\r\n\r\n"
    failure = events(frames, "OriginateResponse")[0]
    assert (failure.get("ActionID"), failure.get("Response"), failure.get("Channel"), failure.get("Reason"),
            failure.get("Uniqueid")) == ("o", "Failure", "Local/nope@nowhere/n", "0", "<unknown>")
    # without Async the reply waits for the answer, and there is no OriginateResponse
    assert reply(sync, "s").get("Message") == "Originate successfully queued"
    assert events(sync + after, "OriginateResponse") == []
    assert events(sync + after, "MessageWaiting")


def test_every_session_gets_every_event(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin, connected(standin) as one, connected(standin) as two:
        standin.leave_message("2001", "+12025550123")
        a, b = one.sync(), two.sync()
    assert [f.raw for f in a if f.get("Event") != "SuccessfulAuth"] == [
        f.raw for f in b if f.get("Event") != "SuccessfulAuth"]
    assert len(events(a, "MessageWaiting")) == 1
    assert len(events(a, "SuccessfulAuth")) == 1  # the second session's login, seen by the first
