"""leave_message runs the call an Originate would and writes the spool exactly like app_voicemail."""

from __future__ import annotations

import re
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import CAPTURES
from tests.integration.standin.standin_client import Ami, connected, events, running
from voicemail.domain.errors import InvalidInput
from voicemail.domain.models import MSG_ID
from voicemail.spool.envelope import parse_envelope

CAPTURED_TXT = CAPTURES / "msg0000.txt"


def _keys(txt: str) -> list[str]:
    return [line.split("=", 1)[0] for line in txt.splitlines() if "=" in line]


def _mask_times(txt: str) -> str:
    txt = re.sub(r"origdate=.*", "origdate=<date>", txt)
    txt = re.sub(r"origtime=\d+", "origtime=<t>", txt)
    return re.sub(r"msg_id=\d+-", "msg_id=<t>-", txt)


def test_a_left_message_is_laid_out_like_the_captured_one(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    with running(spool) as standin:
        msg_id = standin.leave_message("1001", '"Alice Internal" <1001>')
    assert msg_id is not None and MSG_ID.match(msg_id)
    inbox = spool / "default" / "1001" / "INBOX"
    assert sorted(p.name for p in inbox.iterdir()) == ["msg0000.txt", "msg0000.wav"]
    assert list((spool / "default" / "1001" / "tmp").iterdir()) == []
    txt = (inbox / "msg0000.txt").read_text()
    captured = CAPTURED_TXT.read_text()
    assert _keys(txt) == _keys(captured)
    assert txt.splitlines()[:4] == captured.splitlines()[:4]  # the comment header and [message]
    assert _mask_times(txt) == _mask_times(captured)  # same channel, caller, counters -> same values
    env = parse_envelope((inbox / "msg0000.txt").read_bytes())
    assert env.msg_id == msg_id and env.duration == 3 and env.callerid == '"Alice Internal" <1001>'
    assert re.fullmatch(r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d [AP]M UTC \d{4}", env.origdate)
    assert msg_id.startswith(f"{env.origtime}-")
    # modes as in spool-after-q1.txt
    assert stat.S_IMODE((inbox / "msg0000.txt").stat().st_mode) == 0o666
    assert stat.S_IMODE((inbox / "msg0000.wav").stat().st_mode) == 0o644
    assert stat.S_IMODE(inbox.stat().st_mode) == 0o755
    # the recording: the lab's 3.832 s, same 44-byte PCM header as the captured msg0000.wav, not silence
    wav = (inbox / "msg0000.wav").read_bytes()
    captured_wav = (CAPTURES / "msg0000.wav").read_bytes()
    assert len(wav) == len(captured_wav) == 61356
    assert wav[:44] == captured_wav[:44]
    assert len(set(wav[44:2044])) > 50


def test_caller_id_variants_are_written_like_the_captured_files(tmp_path: Path) -> None:
    cases = [  # q1b: the same five calls, in the same order, on a fresh server
        ("1002", "+12025550123", "vmlab", "spool-1002-INBOX-msg0000.ami-callerid-external.txt", "1002/INBOX/msg0000"),
        ("1002", None, "vmlab", "spool-1002-INBOX-msg0001.ami-no-callerid.txt", "1002/INBOX/msg0001"),
        ("2001", None, "vmleave-int", "spool-2001-INBOX-msg0000.dialplan-vmleave-int.txt", "2001/INBOX/msg0000"),
        ("2001", None, "vmleave-ext", "spool-2001-INBOX-msg0001.dialplan-vmleave-ext.txt", "2001/INBOX/msg0001"),
        ("2001", None, "vmleave-anon", "spool-2001-INBOX-msg0002.dialplan-vmleave-anon.txt", "2001/INBOX/msg0002"),
    ]
    spool = tmp_path / "voicemail"
    with running(spool) as standin:
        for mailbox, callerid, context, _, _ in cases:
            assert standin.leave_message(mailbox, callerid, caller_context=context) is not None
    for *_, name, path in cases:
        written = (spool / "default" / f"{path}.txt").read_text()
        assert _mask_times(written) == _mask_times((CAPTURES / name).read_text()), name


def test_message_waiting_comes_only_after_both_files_are_complete(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    inbox = spool / "default" / "2001" / "INBOX"
    with running(spool) as standin, connected(standin) as ami, ThreadPoolExecutor(1) as pool:
        left = pool.submit(standin.leave_message, "2001", "+12025550123")
        frames = ami.until(lambda fs: any(f.get("Event") == "MessageWaiting" for f in fs), timeout=10)
        # checked the moment the event is read, while the stand-in thread goes on
        files = sorted(p.name for p in inbox.iterdir())
        envelope = parse_envelope((inbox / "msg0000.txt").read_bytes())
        wav_size = (inbox / "msg0000.wav").stat().st_size
        assert left.result(10) == envelope.msg_id
    assert files == ["msg0000.txt", "msg0000.wav"]
    assert wav_size > 44
    names = [f.get("Event") for f in frames]
    varsets = [f for f in frames if f.get("Event") == "VarSet" and f.get("Variable") == "VM_MESSAGEFILE"]
    assert varsets and varsets[0].get("Value") == str(inbox / "msg0000")
    assert names.index("MessageWaiting") > frames.index(varsets[0])
    mw = events(frames, "MessageWaiting")[0]
    assert (mw.get("Channel"), mw.get("Mailbox"), mw.get("Waiting"), mw.get("New"), mw.get("Old")) == (
        "Local/play@vmlab-00000000;1", "2001@default", "1", "1", "0")
    assert mw.get("CallerIDNum") == "+12025550123" and mw.get("CallerIDName") == "<unknown>"
    assert "Event: OriginateResponse" in b"".join(f.raw for f in frames).decode()


def test_urgent_message_goes_to_urgent_and_counts_as_new(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    with running(spool) as standin, connected(standin) as ami:
        standin.leave_message("1002", "+12025550123")
        ami.sync()
        msg_id = standin.leave_message("1002", '"Bob Caller" <+4535551234>', urgent=True)
        frames = ami.sync()
        mw = events(frames, "MessageWaiting")[0]
        count = ami.action("MailboxCount", "c", Mailbox="1002@default")
        status = ami.action("VoicemailUserStatus", "s", Context="default", Mailbox="1002")
        summary = ami.action("VoicemailBoxSummary", "b", Context="default", Mailbox="1002")
    urgent_txt = spool / "default" / "1002" / "Urgent" / "msg0000.txt"
    env = parse_envelope(urgent_txt.read_bytes())
    assert env.msg_id == msg_id and env.flag == "Urgent"
    assert (mw.get("New"), mw.get("Old")) == ("2", "0")
    messagefiles = [f.get("Value") for f in frames if f.get("Variable") == "VM_MESSAGEFILE"]
    assert messagefiles == [str(urgent_txt.with_suffix(""))]
    c = count[0]
    assert (c.get("UrgMessages"), c.get("NewMessages"), c.get("OldMessages")) == ("1", "1", "0")
    assert events(status, "VoicemailUserDetail")[0].get("NewMessageCount") == "2"
    details = events(summary, "VoicemailBoxDetail")
    assert [(d.get("Folder"), d.get("Flag")) for d in details] == [("INBOX", ""), ("Urgent", "Urgent")]


def test_a_full_mailbox_refuses_the_message_without_any_event(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    with running(spool, maxmsg=2) as standin, connected(standin) as ami:
        assert standin.leave_message("2001") is not None
        assert standin.leave_message("2001") is not None
        assert len(events(ami.sync(), "MessageWaiting")) == 2
        assert standin.leave_message("2001", "+12025550123") is None
        frames = ami.sync()
    assert len(events(frames, "Hangup")) == 2
    assert events(frames, "MessageWaiting") == []
    statuses = [f.get("Value") for f in frames if f.get("Variable") == "VMSTATUS"]
    assert statuses == ["FAILED"]
    assert any('"sound":"vm-mailboxfull"' in (f.get("Extra") or "") for f in frames)
    assert sorted(p.name for p in (spool / "default" / "2001" / "INBOX").iterdir()) == [
        "msg0000.txt", "msg0000.wav", "msg0001.txt", "msg0001.wav"]


def test_numbering_continues_after_the_highest_number_and_keeps_gaps(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    inbox = spool / "default" / "1001" / "INBOX"
    with running(spool) as standin:
        standin.leave_message("1001")
        standin.leave_message("1001")
        for ext in ("txt", "wav"):
            (inbox / f"msg0000.{ext}").unlink()
        standin.leave_message("1001")
        assert sorted(p.stem for p in inbox.glob("*.txt")) == ["msg0001", "msg0002"]
        for ext in ("txt", "wav"):
            shutil.copyfile(inbox / f"msg0001.{ext}", inbox / f"msg0005.{ext}")
        standin.leave_message("1001")
    assert sorted(p.stem for p in inbox.glob("*.txt")) == ["msg0001", "msg0002", "msg0005", "msg0006"]


def test_callers_audio_is_stored_byte_for_byte(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    pcm = bytes(range(250)) * 64  # 16000 bytes = 8000 samples = 1 s
    wav = (b"RIFF" + (36 + len(pcm)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
           + bytes.fromhex("01000100401f0000803e00000200" "1000") + b"data" + len(pcm).to_bytes(4, "little") + pcm)
    truncated = wav[:700]
    with running(spool) as standin:
        first = standin.leave_message("1002", audio=wav)
        second = standin.leave_message("1002", audio=truncated)
        third = standin.leave_message("1002", audio=pcm * 2)
    inbox = spool / "default" / "1002" / "INBOX"
    assert (inbox / "msg0000.wav").read_bytes() == wav
    assert (inbox / "msg0001.wav").read_bytes() == truncated
    assert (inbox / "msg0002.wav").read_bytes()[44:] == pcm * 2
    durations = [parse_envelope((inbox / f"msg000{i}.txt").read_bytes()).duration for i in range(3)]
    assert durations == [1, 0, 2]
    assert None not in (first, second, third)


def test_wav49_is_written_in_the_captured_gsm_layout_beside_the_pcm_file(tmp_path: Path) -> None:
    captured = CAPTURES / "format-wav49-msg0016.WAV"
    spool = tmp_path / "voicemail"
    with running(spool, formats=("wav49", "wav")) as standin:
        standin.leave_message("1002", '"Alice Internal" <1001>')
    inbox = spool / "default" / "1002" / "INBOX"
    assert sorted(p.name for p in inbox.iterdir()) == ["msg0000.WAV", "msg0000.txt", "msg0000.wav"]
    gsm = (inbox / "msg0000.WAV").read_bytes()
    ref = captured.read_bytes()
    assert gsm[8:48] == ref[8:48]  # WAVE, the 20-byte GSM fmt chunk, the fact chunk header
    assert gsm[52:56] == b"data"
    data_len = int.from_bytes(gsm[56:60], "little")
    assert data_len % 65 == 0 and len(gsm) == 60 + data_len
    assert int.from_bytes(gsm[4:8], "little") == len(gsm) - 8
    assert int.from_bytes(gsm[48:52], "little") == data_len // 65 * 320
    assert stat.S_IMODE((inbox / "msg0000.WAV").stat().st_mode) == 0o644


def test_hostile_caller_names_cannot_break_the_files_or_the_framing(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    names = ["Evil\r\nBcc: victim@example.test", "Nul\x00Byte", "A" * 10_000]
    with running(spool) as standin, connected(standin) as ami:
        for name in names:
            assert standin.leave_message("2001", f'"{name}" <+12025550188>') is not None
        frames = ami.sync()  # the session still frames correctly
    assert len(events(frames, "MessageWaiting")) == 3
    assert all(b"\r\nBcc:" not in f.raw for f in frames)
    inbox = spool / "default" / "2001" / "INBOX"
    callerids = [parse_envelope((inbox / f"msg000{i}.txt").read_bytes()).callerid for i in range(3)]
    assert callerids[0] == '"Evil  Bcc: victim@example.test" <+12025550188>'
    assert callerids[1] == '"Nul" <+12025550188>'
    assert len(callerids[2]) == 255  # leave_voicemail's callerid[256]


def test_a_mail_to_a_mailbox_with_an_address_uses_up_a_uniqueid(tmp_path: Path) -> None:
    """q2: app_voicemail's dummy channel for the e-mail variables takes a Uniqueid."""
    with running(tmp_path / "voicemail") as standin, connected(standin) as ami:
        standin.leave_message("1001", '"Alice Internal" <1001>')
        standin.leave_message("1002")
        frames = ami.sync()
    new = [f.get("Uniqueid") for f in events(frames, "Newchannel")]
    assert [u.rsplit(".", 1)[1] for u in new if u] == ["0", "1", "3", "4"]
    assert [f.get("Variable") for f in frames if f.get("Channel") == "none"][:3] == ["VM_NAME", "VM_DUR",
                                                                                     "VM_MSGNUM"]


def test_a_call_from_any_context_is_recorded_with_that_context(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    with running(spool) as standin:
        standin.leave_message("2001@default", '"Alice Internal" <1001>', caller_context="vm-internal")
    env = parse_envelope((spool / "default" / "2001" / "INBOX" / "msg0000.txt").read_bytes())
    assert (env.context, env.exten, env.callerchan) == ("vm-internal", "play", "Local/play@vm-internal-00000000;1")


def test_leaving_a_message_for_an_unknown_mailbox_is_refused(tmp_path: Path) -> None:
    with running(tmp_path / "voicemail") as standin:
        with pytest.raises(InvalidInput):
            standin.leave_message("9999")
        with pytest.raises(InvalidInput):
            standin.leave_message("1001", caller_context="../etc")
        assert isinstance(Ami(standin.port).banner, bytes)


def test_a_spool_that_cannot_be_written_fails_the_call_not_the_stand_in(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    (spool / "default" / "1001").mkdir(parents=True)
    (spool / "default" / "1001" / "tmp").write_text("not a directory")
    with running(spool) as standin, connected(standin) as ami:
        assert standin.leave_message("1001") is None
        frames = ami.sync()
        assert len(events(frames, "Hangup")) == 2 and events(frames, "MessageWaiting") == []
        assert standin.leave_message("1002") is not None
