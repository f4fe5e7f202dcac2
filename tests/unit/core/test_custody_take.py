"""``take_custody`` (what the custody worker runs): seal and strip in one call, the race with another
worker that sealed first, Asterisk's mailbox refresh after a strip, and the seal's progress heartbeat.
Real adapters (FileSpool, FileVault, FileKeyring, SQLite); the Asterisk control is a recording stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.core.test_custody import BOX, World
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.errors import LeaseLost, SpoolChanged
from voicemail.domain.models import MailboxRef, SealedRecording, WrappedKey
from voicemail.domain.records import SEALED, STRIPPED
from voicemail.services.custody import Custody
from voicemail.services.export import export_recording
from voicemail.spool import is_placeholder_bytes

INBOX = Path("spool/default/2001/INBOX")


class RecordingAsterisk:
    def __init__(self) -> None:
        self.refreshed: list[MailboxRef] = []

    def refresh(self, mailbox: MailboxRef) -> None:
        self.refreshed.append(mailbox)


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.discovery.reconcile()
    return w


def test_take_custody_seals_strips_and_returns_the_notification_id(world: World, tmp_path: Path) -> None:
    asterisk = RecordingAsterisk()
    custody = Custody(world.spool, world.vault, world.keyring, world.store, asterisk)
    mid = world.enqueued[0]
    notification = custody.take_custody(mid)
    record = world.store.get(mid)
    assert record.state == STRIPPED and len(record.recordings) == 1
    assert notification is not None and notification == world.store.mark_stripped(mid)  # the same, once
    assert is_placeholder_bytes("wav", (tmp_path / INBOX / "msg0000.wav").read_bytes())
    out = tmp_path / "export.wav"
    export_recording(world.vault, world.keyring, record, out)
    assert out.read_bytes() == world.audio[0]
    assert asterisk.refreshed == [BOX]  # the recording was replaced: Asterisk re-reads the mailbox
    assert custody.take_custody(mid) == notification  # a re-delivered task changes nothing
    assert asterisk.refreshed == [BOX]  # nothing replaced the second time: no refresh


def test_take_custody_of_a_message_gone_before_sealing_returns_none(world: World, tmp_path: Path) -> None:
    mid = world.enqueued[0]
    for p in (tmp_path / INBOX).glob("msg0000.*"):
        p.unlink()
    assert world.custody.take_custody(mid) is None
    assert world.store.get(mid).state == "vanished"


class SealedMeanwhile(SqlMessageStore):
    """A store through which another worker seals the message just before this one commits."""

    other: Custody

    def mark_sealed(self, message_id: str, wrapped: WrappedKey, recordings: list[SealedRecording],
                    attempt: str | None = None) -> bool:
        assert self.other.seal(message_id) == "sealed"
        return super().mark_sealed(message_id, wrapped, recordings, attempt)


def test_take_custody_strips_a_message_another_worker_sealed_meanwhile(world: World, tmp_path: Path) -> None:
    store = SealedMeanwhile(world.store._sessions)
    store.other = world.custody
    custody = Custody(world.spool, world.vault, world.keyring, store)
    mid = world.enqueued[0]
    assert custody.take_custody(mid) is not None
    record = world.store.get(mid)
    assert record.state == STRIPPED and len(record.recordings) == 1
    assert is_placeholder_bytes("wav", (tmp_path / INBOX / "msg0000.wav").read_bytes())
    blobs = [p.name for p in (tmp_path / "vault").rglob("*") if p.is_file()]
    assert blobs == [record.recordings[0].blob_name]  # the losing worker deleted its own blob


def test_strip_refreshes_asterisk_only_when_a_recording_was_replaced(world: World, tmp_path: Path) -> None:
    asterisk = RecordingAsterisk()
    custody = Custody(world.spool, world.vault, world.keyring, world.store, asterisk)
    mid = world.enqueued[0]
    assert custody.seal(mid) == "sealed"
    for p in (tmp_path / INBOX).glob("msg0000.*"):
        p.unlink()  # the owner deleted it by phone after sealing
    custody.strip(mid)
    assert world.store.get(mid).state == STRIPPED
    assert asterisk.refreshed == []


def test_a_failing_refresh_does_not_fail_the_strip(world: World) -> None:
    class DownAsterisk:
        def refresh(self, mailbox: MailboxRef) -> None:
            raise ConnectionError("AMI down")

    custody = Custody(world.spool, world.vault, world.keyring, world.store, DownAsterisk())
    mid = world.enqueued[0]
    assert custody.take_custody(mid) is not None
    assert world.store.get(mid).state == STRIPPED


def test_refusals_to_strip_name_the_message_and_why(world: World, tmp_path: Path) -> None:
    mid = world.enqueued[0]
    with pytest.raises(SpoolChanged, match=f"message {mid} is discovered; it must be sealed before stripping"):
        world.custody.strip(mid)
    assert world.custody.seal(mid) == "sealed"
    (tmp_path / INBOX / "msg0000.gsm").write_bytes(b"\x00" * 33)  # a format that appeared after sealing
    with pytest.raises(SpoolChanged, match=f"message {mid} has an unsealed format 'gsm'"):
        world.custody.strip(mid)
    assert world.store.get(mid).state == SEALED


class TouchLog(SqlMessageStore):
    touched: list[tuple[str, str]]

    def touch(self, kind: str, ref_id: str) -> None:
        self.touched.append((kind, ref_id))
        super().touch(kind, ref_id)


@pytest.mark.parametrize(("every", "touches"), [(0.0, True), (3600.0, False)])
def test_a_seal_marks_the_message_as_progressing_at_most_every_heartbeat(
        world: World, every: float, touches: bool) -> None:
    store = TouchLog(world.store._sessions)
    store.touched = []
    custody = Custody(world.spool, world.vault, world.keyring, store, heartbeat_every=every)
    mid = world.enqueued[0]
    assert custody.seal(mid) == "sealed"
    assert set(store.touched) == ({("message", mid)} if touches else set())
    assert len(store.touched) >= (2 if touches else 0)


class OvertakenBeforeCommit(SqlMessageStore):
    """A store through which a re-delivered task starts a newer custody run just before this one commits."""

    def mark_sealed(self, message_id: str, wrapped: WrappedKey, recordings: list[SealedRecording],
                    attempt: str | None = None) -> bool:
        self.begin_custody(message_id, 5)
        return super().mark_sealed(message_id, wrapped, recordings, attempt)


def test_a_seal_overtaken_by_a_newer_run_commits_nothing_and_deletes_its_blob(world: World, tmp_path: Path) -> None:
    custody = Custody(world.spool, world.vault, world.keyring, OvertakenBeforeCommit(world.store._sessions))
    mid = world.enqueued[0]
    with pytest.raises(LeaseLost, match=f"message {mid}: a newer custody run took over before this one committed"):
        custody.seal(mid)
    record = world.store.get(mid)
    assert (record.state, record.recordings, record.wrapped_key) == ("discovered", (), None)
    assert [p for p in (tmp_path / "vault").rglob("*") if p.is_file()] == []
    assert not is_placeholder_bytes("wav", (tmp_path / INBOX / "msg0000.wav").read_bytes())


def test_each_format_of_a_message_is_sealed_under_its_own_blob(tmp_path: Path) -> None:
    world = World(tmp_path)
    gsm = bytes(range(256)) * 8
    (tmp_path / INBOX / "msg0000.gsm").write_bytes(gsm)
    world.discovery.reconcile()
    mid = world.enqueued[0]
    assert world.custody.take_custody(mid) is not None
    record = world.store.get(mid)
    assert sorted(r.fmt for r in record.recordings) == ["gsm", "wav"]
    assert len({r.blob_name for r in record.recordings}) == 2
    for fmt, audio in (("wav", world.audio[0]), ("gsm", gsm)):
        out = tmp_path / f"export.{fmt}"
        export_recording(world.vault, world.keyring, record, out, fmt)
        assert out.read_bytes() == audio


def test_after_seal_is_told_each_sealed_message_and_its_failure_does_not_fail_custody(world: World) -> None:
    told: list[str] = []

    def quota_check(message_id: str) -> None:
        told.append(message_id)
        raise RuntimeError("quota store down")

    world.custody.after_seal = quota_check
    first, second = world.enqueued[:2]
    assert world.custody.seal(first) == "sealed"
    assert world.custody.take_custody(second) is not None
    assert world.custody.seal(first) == "already"
    assert told == [first, second]
    assert world.store.get(first).state == SEALED


def test_take_custody_of_a_message_sealed_before_a_crash_strips_it(world: World, tmp_path: Path) -> None:
    mid = world.enqueued[0]
    assert world.custody.seal(mid) == "sealed"  # the worker died here; the task is delivered again
    assert world.custody.take_custody(mid) is not None
    assert world.store.get(mid).state == STRIPPED
    assert is_placeholder_bytes("wav", (tmp_path / INBOX / "msg0000.wav").read_bytes())
