""""Play on my phone": how Originate reports each way a called phone answers or not (capture q11)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.integration.standin.standin_client import Ami, Frame, connected, events, reply, running


def _play(ami: Ami, exten: str, action_id: str, timeout_ms: str = "30000", **extra: str) -> list[Frame]:
    ami.send("Originate", ActionID=action_id, Channel=f"Local/{exten}@phonesim/n", Application="Playback",
             Data="hello-world", Timeout=timeout_ms, CallerID='"Voicemail" <8500>', Async="true", **extra)
    frames = ami.take(lambda fs: bool(events(fs, "OriginateResponse")) and len(events(fs, "Hangup")) == 2, timeout=15)
    return frames + ami.sync()


def _outcome(frames: list[Frame]) -> tuple[str | None, str | None, str | None]:
    resp = events(frames, "OriginateResponse")[0]
    return resp.get("Response"), resp.get("Reason"), resp.get("Channel")


def _causes(frames: list[Frame]) -> dict[str, str | None]:
    return {(f.get("Channel") or "")[-1:]: f.get("Cause") for f in events(frames, "Hangup")}


def _dispositions(frames: list[Frame]) -> list[str]:
    return sorted(f.get("Disposition") or "" for f in events(frames, "Cdr"))


def test_each_phone_outcome_as_originate_reports_it(tmp_path: Path) -> None:
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        answered = _play(ami, "answer", "a")
        assert reply(answered, "a").get("Message") == "Originate successfully queued"
        assert _outcome(answered) == ("Success", "4", "Local/answer@phonesim-00000000;1")
        assert [f.get("DialStatus") for f in events(answered, "DialEnd")] == ["ANSWER"]
        assert _dispositions(answered) == ["ANSWERED", "ANSWERED"]

        noanswer = _play(ami, "noanswer", "b", "5000")
        assert _outcome(noanswer) == ("Failure", "3", "Local/noanswer@phonesim/n")
        assert events(noanswer, "OriginateResponse")[0].get("Uniqueid") == "<unknown>"
        assert events(noanswer, "DialBegin") and not events(noanswer, "DialEnd") and not events(noanswer, "DialState")
        assert _causes(noanswer) == {"1": "19", "2": "19"}
        assert _dispositions(noanswer) == ["NO ANSWER", "NO ANSWER"]
        assert all(b"\r\nAnswerTime: \r\n" in f.raw for f in events(noanswer, "Cdr"))

        ringing = _play(ami, "ringnoanswer", "b2", "5000")
        assert _outcome(ringing)[:2] == ("Failure", "3")
        assert [f.get("DialStatus") for f in events(ringing, "DialState")] == ["RINGING"]
        assert [f.get("ChannelStateDesc") for f in events(ringing, "Newstate")] == ["Ringing"]

        busy = _play(ami, "busy", "c")
        assert _outcome(busy)[:2] == ("Failure", "5")
        assert [f.get("DialStatus") for f in events(busy, "DialEnd")] == ["BUSY"]
        assert _causes(busy) == {"1": "0", "2": "17"}
        assert _dispositions(busy) == ["BUSY", "BUSY"]

        congestion = _play(ami, "congestion", "d")
        assert _outcome(congestion)[:2] == ("Failure", "8")
        assert _causes(congestion) == {"1": "0", "2": "34"}
        assert [f.get("Cause-txt") for f in events(congestion, "Hangup") if f.get("Cause") == "34"] == [
            "Circuit/channel congestion"]

        nosuch = _play(ami, "nosuchphone", "e")
        assert _outcome(nosuch) == ("Failure", "0", "Local/nosuchphone@phonesim/n")
        assert len(events(nosuch, "Newchannel")) == 2 and not events(nosuch, "DialBegin")
        assert _dispositions(nosuch) == ["FAILED", "FAILED"]
        assert [f.get("State") for f in events(nosuch, "DeviceStateChange")] == ["INVALID", "INVALID"]


def test_channel_ids_name_both_halves_even_when_the_call_fails(tmp_path: Path) -> None:
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        frames = _play(ami, "ringnoanswer", "g", "5000", ChannelId="vmplay-0001", OtherChannelId="vmplay-0001-phone")
        resp = events(frames, "OriginateResponse")[0]
        assert (resp.get("Response"), resp.get("Uniqueid")) == ("Failure", "vmplay-0001")
        assert {f.get("Uniqueid") for f in events(frames, "Newchannel")} == {"vmplay-0001", "vmplay-0001-phone"}
        assert {f.get("Linkedid") for f in events(frames, "Hangup")} == {"vmplay-0001"}
        assert events(frames, "DialBegin")[0].get("DestUniqueid") == "vmplay-0001"


def test_a_scripted_phone_rings_then_answers_within_the_timeout(tmp_path: Path) -> None:
    phones = {"desk": "Ringing,Wait(3),Answer,Wait(30),Hangup", "slow": "Ringing,Wait(8),Answer,Wait(30),Hangup"}
    with running(tmp_path / "vm", phones=phones) as standin, connected(standin) as ami:
        desk = _play(ami, "desk", "x", "5000")
        assert _outcome(desk)[:2] == ("Success", "4")
        assert [f.get("DialStatus") for f in events(desk, "DialState") + events(desk, "DialEnd")] == [
            "RINGING", "ANSWER"]
        slow = _play(ami, "slow", "y", "5000")
        assert _outcome(slow)[:2] == ("Failure", "3")


def test_playing_a_staged_file_lasts_as_long_as_the_file(tmp_path: Path) -> None:
    from voicemail.standin.audio import pcm_wav

    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "m.wav").write_bytes(pcm_wav(bytes(2 * 8000 * 2)))
    with running(tmp_path / "vm", timing="lab") as standin, connected(standin) as ami:
        t0 = time.monotonic()
        ami.send("Originate", ActionID="f", Channel="Local/listen@phonesim/n", Application="Playback",
                 Data=str(stage / "m"), CallerID='"Voicemail" <8500>', Async="true")
        frames = ami.take(lambda fs: len(events(fs, "Hangup")) == 2, timeout=10)
        assert 1.9 < time.monotonic() - t0 < 4.0  # the 2 s file, then the ;1 half hangs up
        assert _causes(frames) == {"1": "0", "2": "0"}
        cdr = next(f for f in events(frames, "Cdr") if (f.get("Channel") or "").endswith(";1"))
        assert (cdr.get("LastApplication"), cdr.get("LastData")) == ("Playback", str(stage / "m"))
        assert [f.get("Value") for f in frames if f.get("Variable") == "PLAYBACKSTATUS"] == ["SUCCESS"]
