"""replace_with_placeholder: swap, idempotence, refusal, ownership, and races with Asterisk."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from tests.conftest import CAPTURES
from voicemail.domain.errors import InvalidInput, SpoolChanged, UnsupportedFormat
from voicemail.domain.models import MailboxRef, SpoolMessage
from voicemail.spool import FileSpool, placeholder_bytes
from voicemail.spool import strip as strip_module
from voicemail.spool.exchange import exchange_available, rename_exchange

BOX = MailboxRef("default", "1001")
MSG_Q1 = "1795978545-00000000"
WAV = (CAPTURES / "msg0000.wav").read_bytes()
WAV_SHA = hashlib.sha256(WAV).hexdigest()
WAV49 = (CAPTURES / "format-wav49-msg0016.WAV").read_bytes()


def later() -> float:
    return time.time() + 3600


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "voicemail/default/1001/INBOX"
    folder.mkdir(parents=True)
    shutil.copyfile(CAPTURES / "msg0000.txt", folder / "msg0000.txt")
    shutil.copyfile(CAPTURES / "msg0000.wav", folder / "msg0000.wav")
    return folder


@pytest.fixture(params=[True, False], ids=["exchange", "fallback"])
def spool(request: pytest.FixtureRequest, inbox: Path) -> FileSpool:
    return FileSpool(inbox.parents[2], clock=later, use_exchange=request.param)


def message_of(spool: FileSpool, msg_id: str = MSG_Q1) -> SpoolMessage:
    found = spool.find(BOX, msg_id)
    assert found is not None
    return found


def test_renameat2_exchange_is_available_on_this_platform() -> None:
    assert exchange_available()


def test_rename_exchange_swaps_two_entries(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"A")
    (tmp_path / "b").write_bytes(b"B")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        rename_exchange(fd, "a", "b")
        with pytest.raises(FileNotFoundError):
            rename_exchange(fd, "a", "missing")
    finally:
        os.close(fd)
    assert ((tmp_path / "a").read_bytes(), (tmp_path / "b").read_bytes()) == (b"B", b"A")


def test_replace_swaps_in_the_placeholder_and_keeps_the_envelope(spool: FileSpool, inbox: Path) -> None:
    message = message_of(spool)
    assert not spool.is_placeholder(message, "wav")
    assert spool.replace_with_placeholder(message, "wav", WAV_SHA) == "replaced"
    assert (inbox / "msg0000.wav").read_bytes() == placeholder_bytes("wav")
    assert (inbox / "msg0000.txt").read_bytes() == (CAPTURES / "msg0000.txt").read_bytes()
    assert sorted(os.listdir(inbox)) == ["msg0000.txt", "msg0000.wav"]  # no twin left behind
    assert spool.is_placeholder(message, "wav")
    # The message is still a message: Asterisk (and our scan) still see it with its audio file.
    assert [m.envelope.msg_id for m in spool.scan(BOX).messages] == [MSG_Q1]


def test_replace_is_idempotent(spool: FileSpool, inbox: Path) -> None:
    message = message_of(spool)
    assert spool.replace_with_placeholder(message, "wav", WAV_SHA) == "replaced"
    inode = (inbox / "msg0000.wav").stat().st_ino
    assert spool.replace_with_placeholder(message, "wav", WAV_SHA) == "already"
    assert (inbox / "msg0000.wav").stat().st_ino == inode


def test_replace_refuses_when_the_hash_differs_and_leaves_the_file_untouched(spool: FileSpool, inbox: Path) -> None:
    message = message_of(spool)
    before = (inbox / "msg0000.wav").stat()
    with pytest.raises(SpoolChanged, match="differs"):
        spool.replace_with_placeholder(message, "wav", hashlib.sha256(b"other").hexdigest())
    after = (inbox / "msg0000.wav").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert (inbox / "msg0000.wav").read_bytes() == WAV
    assert sorted(os.listdir(inbox)) == ["msg0000.txt", "msg0000.wav"]


def test_replace_refuses_when_another_message_now_lies_there(spool: FileSpool, inbox: Path) -> None:
    message = message_of(spool)
    shutil.copyfile(CAPTURES / "spool-1002-INBOX-msg0000.ami-callerid-external.txt", inbox / "msg0000.txt")
    with pytest.raises(SpoolChanged, match="another message"):
        spool.replace_with_placeholder(message, "wav", WAV_SHA)
    assert (inbox / "msg0000.wav").read_bytes() == WAV


def test_replace_refuses_when_the_envelope_is_gone(spool: FileSpool, inbox: Path) -> None:
    message = message_of(spool)
    (inbox / "msg0000.txt").unlink()
    with pytest.raises(SpoolChanged):
        spool.replace_with_placeholder(message, "wav", WAV_SHA)
    assert (inbox / "msg0000.wav").read_bytes() == WAV


def test_replace_of_a_vanished_recording_raises_spool_changed(spool: FileSpool, inbox: Path) -> None:
    message = message_of(spool)
    (inbox / "msg0000.wav").unlink()
    with pytest.raises(SpoolChanged):
        spool.replace_with_placeholder(message, "wav", WAV_SHA)
    assert sorted(os.listdir(inbox)) == ["msg0000.txt"]


def test_replace_keeps_mode_owner_and_times(spool: FileSpool, inbox: Path) -> None:
    recording = inbox / "msg0000.wav"
    os.chmod(recording, 0o640)
    if os.geteuid() == 0:
        os.chown(recording, 4321, 4322)
    os.utime(recording, ns=(1_795_978_549_000_000_000, 1_795_978_549_125_872_322))
    before = recording.stat()
    assert spool.replace_with_placeholder(message_of(spool), "wav", WAV_SHA) == "replaced"
    after = recording.stat()
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert after.st_mtime_ns == before.st_mtime_ns


def test_replace_accepts_an_uppercase_digest(spool: FileSpool, inbox: Path) -> None:
    assert spool.replace_with_placeholder(message_of(spool), "wav", WAV_SHA.upper()) == "replaced"


@pytest.mark.parametrize("digest", ["", "abc", "g" * 64, WAV_SHA + "0"])
def test_replace_refuses_a_malformed_digest(spool: FileSpool, inbox: Path, digest: str) -> None:
    with pytest.raises(InvalidInput):
        spool.replace_with_placeholder(message_of(spool), "wav", digest)
    assert (inbox / "msg0000.wav").read_bytes() == WAV


def test_unsupported_format_is_refused_before_touching_the_file(spool: FileSpool, inbox: Path) -> None:
    (inbox / "msg0000.mp3").write_bytes(b"ID3")
    with pytest.raises(UnsupportedFormat):
        spool.replace_with_placeholder(message_of(spool), "mp3", hashlib.sha256(b"ID3").hexdigest())
    assert (inbox / "msg0000.mp3").read_bytes() == b"ID3"


def test_each_format_of_a_wav49_message_gets_its_own_placeholder(tmp_path: Path) -> None:
    folder = tmp_path / "vm/default/1002/INBOX"
    folder.mkdir(parents=True)
    shutil.copyfile(CAPTURES / "format-wav49-msg0016.txt", folder / "msg0016.txt")
    (folder / "msg0016.WAV").write_bytes(WAV49)
    (folder / "msg0016.wav").write_bytes(WAV)
    spool = FileSpool(tmp_path / "vm", ("WAV", "wav"), clock=later)
    message = spool.find(MailboxRef("default", "1002"), "1795979828-00000054")
    assert message is not None
    assert spool.replace_with_placeholder(message, "WAV", hashlib.sha256(WAV49).hexdigest()) == "replaced"
    assert (folder / "msg0016.wav").read_bytes() == WAV  # only the format asked for
    assert spool.replace_with_placeholder(message, "wav", WAV_SHA) == "replaced"
    assert (folder / "msg0016.WAV").read_bytes() == placeholder_bytes("WAV")
    assert (folder / "msg0016.wav").read_bytes() == placeholder_bytes("wav")


# --- races: Asterisk acts between our check and our swap -------------------------------------------


def test_recording_changed_just_before_the_exchange_is_put_back(inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = FileSpool(inbox.parents[2], clock=later)
    message = message_of(spool)
    intruder = WAV[:44] + b"\x01\x00" * 100

    def asterisk_then_exchange(dir_fd: int, a: str, b: str) -> None:
        if a.endswith(".vmswap"):  # only the first (forward) exchange is raced
            (inbox / "msg0000.wav.new").write_bytes(intruder)
            os.replace(inbox / "msg0000.wav.new", inbox / "msg0000.wav")
            monkeypatch.setattr(strip_module, "rename_exchange", rename_exchange)
        rename_exchange(dir_fd, a, b)

    monkeypatch.setattr(strip_module, "rename_exchange", asterisk_then_exchange)
    with pytest.raises(SpoolChanged, match="put back"):
        spool.replace_with_placeholder(message, "wav", WAV_SHA)
    assert (inbox / "msg0000.wav").read_bytes() == intruder
    assert sorted(os.listdir(inbox)) == ["msg0000.txt", "msg0000.wav"]


def test_swap_back_follows_a_placeholder_that_asterisk_renumbered(inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = FileSpool(inbox.parents[2], clock=later)
    message = message_of(spool)
    intruder = WAV[:44] + b"\x02\x00" * 100
    calls: list[str] = []

    def race(dir_fd: int, a: str, b: str) -> None:
        calls.append(b)
        if len(calls) == 1:
            (inbox / "msg0000.wav.new").write_bytes(intruder)
            os.replace(inbox / "msg0000.wav.new", inbox / "msg0000.wav")
            rename_exchange(dir_fd, a, b)
            for ext in ("wav", "txt"):  # then Asterisk renumbers msg0000 -> msg0003
                os.rename(inbox / f"msg0000.{ext}", inbox / f"msg0003.{ext}")
            return
        rename_exchange(dir_fd, a, b)

    monkeypatch.setattr(strip_module, "rename_exchange", race)
    with pytest.raises(SpoolChanged):
        spool.replace_with_placeholder(message, "wav", WAV_SHA)
    assert calls == ["msg0000.wav", "msg0003.wav"]
    assert (inbox / "msg0003.wav").read_bytes() == intruder
    assert sorted(os.listdir(inbox)) == ["msg0003.txt", "msg0003.wav"]


def test_fallback_rechecks_the_recording_right_before_replacing(inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = FileSpool(inbox.parents[2], clock=later, use_exchange=False)
    message = message_of(spool)
    real_write_twin = strip_module._write_twin
    intruder = WAV[:44] + b"\x03\x00" * 100

    def twin_then_asterisk(folder_fd: int, name: str, data: bytes, like: os.stat_result,
                           durable: bool = True) -> tuple[str, int]:
        result = real_write_twin(folder_fd, name, data, like, durable)
        (inbox / "msg0000.wav").write_bytes(intruder)
        return result

    monkeypatch.setattr(strip_module, "_write_twin", twin_then_asterisk)
    with pytest.raises(SpoolChanged):
        spool.replace_with_placeholder(message, "wav", WAV_SHA)
    assert (inbox / "msg0000.wav").read_bytes() == intruder
    assert sorted(os.listdir(inbox)) == ["msg0000.txt", "msg0000.wav"]


def test_a_leftover_swap_file_is_reported_by_scan(inbox: Path) -> None:
    (inbox / ".msg0000.wav.0123456789ab.vmswap").write_bytes(WAV)
    scan = FileSpool(inbox.parents[2], clock=later).scan(BOX)
    assert [m.envelope.msg_id for m in scan.messages] == [MSG_Q1]
    assert [p.reason for p in scan.problems] == ["leftover swap file from an interrupted strip"]
