"""Owner actions against the stand-in Asterisk: mark read/unread (VoicemailMove, MWI follows), delete
(crypto-shred: key, blobs, VoicemailRemove, row) or, under a legal hold, hide and keep everything."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.mailbox.harness import ADMIN, ALICE, ALICE_BOX, BOB, MailboxSite
from tests.integration.pipeline.harness import make_wav, wait_for
from voicemail.audit.store import AuditLog
from voicemail.db.models import MessageRow
from voicemail.domain.errors import AmiError, NotFound
from voicemail.domain.mailbox import InboxQuery
from voicemail.domain.models import MailboxRef
from voicemail.services.export import export_recording


def row(box: MailboxSite, mid: str) -> MessageRow:
    with box.container.store._reads() as s:
        found = s.scalars(select(MessageRow).where(MessageRow.id == mid)).unique().one()
        s.expunge(found)
        return found


def folders(box: MailboxSite, mailbox: str = "1001@default") -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in box.spool_files(mailbox)]


def test_mark_read_moves_the_message_to_old_and_the_lamp_follows(box: MailboxSite) -> None:
    box.start_watching()
    mid = box.leave("1001@default", make_wav(1.0, 1))
    assert folders(box) == ["INBOX/msg0000.txt", "INBOX/msg0000.wav"]
    item = box.mailboxes.mark(ALICE, mid, read=True)
    assert item.folder == "Old"
    assert folders(box) == ["Old/msg0000.txt", "Old/msg0000.wav"]
    wait_for(lambda: bool(box.seen("MessageWaiting", Mailbox="1001@default", New="0", Old="1")), 5, "MWI 0/1")
    assert [i.id for i in box.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery(folder="Old")).items] == [mid]
    assert row(box, mid).folder == "Old" and row(box, mid).spool_number == 0
    # and back: unread
    assert box.mailboxes.mark(ALICE, mid, read=False).folder == "INBOX"
    assert folders(box) == ["INBOX/msg0000.txt", "INBOX/msg0000.wav"]
    wait_for(lambda: bool(box.seen("MessageWaiting", Mailbox="1001@default", New="1", Old="0")), 5, "MWI 1/0")
    # marking what is already read changes nothing in Asterisk
    box.mailboxes.mark(ALICE, mid, read=True)
    before = len(box.seen("MessageWaiting"))
    assert box.mailboxes.mark(ALICE, mid, read=True).folder == "Old"
    assert len(box.seen("MessageWaiting")) == before
    assert [e[1] for e in box.audit(mid)].count("message.mark") == 4


def test_only_the_owner_may_mark_or_delete(box: MailboxSite) -> None:
    mid = box.leave("1001@default", make_wav(1.0, 2))
    for viewer in (ADMIN, BOB):
        with pytest.raises(NotFound):
            box.mailboxes.mark(viewer, mid, read=True)
        with pytest.raises(NotFound):
            box.mailboxes.delete(viewer, mid)
    assert folders(box) == ["INBOX/msg0000.txt", "INBOX/msg0000.wav"]
    assert row(box, mid).wrapped_dek is not None


def test_delete_without_hold_crypto_shreds_everything(box: MailboxSite) -> None:
    box.start_watching()
    keep = box.leave("1001@default", make_wav(1.0, 3))
    mid = box.leave("1001@default", make_wav(1.0, 4))
    blobs = [r.blob_name for r in box.container.store.get(mid).recordings]
    assert blobs and all(box.container.vault.exists(b) for b in blobs)
    # delete is typed to return nothing; the test checks that at run time too
    assert box.mailboxes.delete(ALICE, mid) is None  # type: ignore[func-returns-value]
    # the key first, then the blobs, then Asterisk's envelope, then the row
    gone = row(box, mid)
    assert (gone.state, gone.wrapped_dek, gone.kek_id, gone.callerid_raw, gone.envelope) == (
        "destroyed", None, None, "", b"")
    assert not any(box.container.vault.exists(b) for b in blobs)
    assert folders(box) == ["INBOX/msg0000.txt", "INBOX/msg0000.wav"]  # only the kept one is left
    wait_for(lambda: bool(box.seen("MessageWaiting", Mailbox="1001@default", New="1")), 5, "MWI after remove")
    assert [i.id for i in box.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery()).items] == [keep]
    with pytest.raises(NotFound):
        box.mailboxes.message(ALICE, mid)
    steps = [(a, act, o, d.get("step") or d.get("result")) for a, act, o, d in box.audit(mid)
             if not act.startswith("custody.")]
    assert steps == [("alice", "message.shred", "ok", "key"), ("alice", "message.shred", "ok", "blobs"),
                     ("alice", "message.shred", "ok", "spool"), ("alice", "message.shred", "ok", "row"),
                     ("alice", "message.delete", "ok", "destroyed"),
                     ("alice", "message.view", "denied", None)]  # the lookup after it: refused, audited
    # the spool scan does not bring it back
    box.container.discovery.scan(ALICE_BOX)
    assert box.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery()).total == 1


def test_a_delete_while_asterisk_does_not_answer_succeeds_once_the_key_is_destroyed_and_the_rest_follows(
        box: MailboxSite) -> None:
    mid = box.leave("1001@default", make_wav(1.0, 5))
    blobs = [r.blob_name for r in box.container.store.get(mid).recordings]
    box.standin.pause_replies(True)  # Asterisk hangs: VoicemailRemove gets no answer
    try:
        box.mailboxes.delete(ALICE, mid)  # no error: the owner's decision is beyond recall
        stalled = row(box, mid)
        assert (stalled.state, stalled.wrapped_dek) == ("shredding", None)  # never playable again
        assert box.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery()).total == 0
        assert folders(box) == ["INBOX/msg0000.txt", "INBOX/msg0000.wav"]  # Asterisk's envelope, for now
        assert ("alice", "message.delete", "ok", "started") in [
            (a, act, o, d.get("result")) for a, act, o, d in box.audit(mid)]
    finally:
        box.standin.pause_replies(False)  # Asterisk answers again: the follow-up worker finishes the shred
    wait_for(lambda: row(box, mid).state == "destroyed" and folders(box) == [], 60, "the shred to finish")
    assert not any(box.container.vault.exists(b) for b in blobs)
    assert [d.get("step") for _, act, _, d in box.audit(mid) if act == "message.shred"][-2:] == ["spool", "row"]


def test_delete_under_hold_hides_and_keeps_everything_without_telling_the_owner(
        box: MailboxSite, tmp_path: Path) -> None:
    audio = make_wav(1.0, 5)
    mid = box.leave("1001@default", audio)
    box.hold(mid)
    assert box.mailboxes.delete(ALICE, mid) is None  # type: ignore[func-returns-value]  # as a real delete
    assert box.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery()).total == 0
    assert box.mailboxes.inbox(ADMIN, ALICE_BOX, InboxQuery()).total == 0
    for call in (lambda: box.mailboxes.message(ALICE, mid), lambda: box.mailboxes.audio(ALICE, mid, None),
                 lambda: box.mailboxes.delete(ALICE, mid)):
        with pytest.raises(NotFound):
            call()
    kept = row(box, mid)
    assert kept.hidden_at is not None and kept.wrapped_dek is not None and kept.state == "stripped"
    assert folders(box) == ["Cust5/msg0000.txt", "Cust5/msg0000.wav"]  # out of the owner's sight, not removed
    record = box.container.store.get(mid)
    size, _sha = export_recording(box.container.vault, box.container.keyring, record, tmp_path / "evidence.wav")
    assert (tmp_path / "evidence.wav").read_bytes() == audio and size == len(audio)
    assert [(act, o, d) for _a, act, o, d in box.audit(mid) if act == "message.delete"] == [
        ("message.delete", "ok", {"held": True, "result": "hidden", "asterisk_folder": "Cust5"}),
        ("message.delete", "denied", {})]  # the second delete found nothing to delete: refused, audited
    # and retention cannot destroy it either
    assert box.container.shredder is not None
    assert box.container.shredder.shred(mid, actor="retention", source="test", reason="expired") == "held"
    assert row(box, mid).wrapped_dek is not None


class FailingRemove:
    """An AMI outage during step 3."""

    def remove(self, mailbox: MailboxRef, msg_id: str) -> bool:
        raise AmiError("connection refused")


def test_shred_resumes_after_a_crash_between_steps(box: MailboxSite) -> None:
    from voicemail.services.shred import CryptoShredder

    shredder = box.container.shredder
    assert isinstance(shredder, CryptoShredder)
    first = box.leave("1001@default", make_wav(1.0, 6))
    second = box.leave("1001@default", make_wav(1.0, 7))
    blobs = [r.blob_name for r in box.container.store.get(first).recordings]
    # crash 1: after the key was destroyed (step 1 committed), before anything else
    rows = box.services._store
    rows.destroy_key(first)  # type: ignore[attr-defined]
    assert row(box, first).state == "shredding" and all(box.container.vault.exists(b) for b in blobs)
    assert box.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery()).total == 1  # no longer listed
    # crash 2: the AMI is down at step 3 -> the blobs are gone, the row is still "shredding"
    broken = CryptoShredder(rows, box.container.vault, _NoHolds(), _audit(box), FailingRemove())  # type: ignore[arg-type]
    with pytest.raises(AmiError):
        broken.shred(first, actor="retention", source="test", reason="expired")
    assert not any(box.container.vault.exists(b) for b in blobs)
    assert row(box, first).state == "shredding" and len(folders(box)) == 4
    # re-run: completes
    assert shredder.shred(first, actor="retention", source="test", reason="expired") == "destroyed"
    assert row(box, first).state == "destroyed"
    assert len(folders(box)) == 2
    assert shredder.shred(first, actor="retention", source="test", reason="expired") == "already"
    assert shredder.shred("no-such-message", actor="retention", source="test", reason="expired") == "already"
    assert box.mailboxes.message(ALICE, second).id == second


class _NoHolds:
    def is_held(self, message: object) -> bool:
        return False


def _audit(box: MailboxSite) -> AuditLog:
    return AuditLog(box.container.engine)


def test_mark_read_follows_a_move_made_on_the_phone_system_behind_our_back(box: MailboxSite) -> None:
    """Our listing says INBOX, Asterisk already moved it to Old (e.g. VoiceMailMain): no second move,
    no duplicate, our row follows, and the audit says it came from Old."""
    box.start_watching()
    mid = box.leave("1001@default", make_wav(1.0, 1))
    assert row(box, mid).folder == "INBOX"
    assert box.watcher is not None
    box.watcher.call("VoicemailMove", [("Context", "default"), ("Mailbox", "1001"), ("Folder", "INBOX"),
                                       ("ID", row(box, mid).msg_id), ("ToFolder", "Old")])
    assert folders(box) == ["Old/msg0000.txt", "Old/msg0000.wav"]
    wait_for(lambda: bool(box.seen("MessageWaiting", Mailbox="1001@default", New="0", Old="1")), 5, "MWI 0/1")
    moves = len(box.seen("MessageWaiting"))
    assert box.mailboxes.mark(ALICE, mid, read=True).folder == "Old"
    assert folders(box) == ["Old/msg0000.txt", "Old/msg0000.wav"]
    assert len(box.seen("MessageWaiting")) == moves  # Asterisk moved nothing more
    assert row(box, mid).folder == "Old"
    marks = [d for _, action, _, d in box.audit(mid) if action == "message.mark"]
    assert marks == [{"read": True, "from": "Old", "to": "Old"}]


def test_mark_read_of_a_message_moved_to_another_folder_on_the_phone_leaves_it_there(box: MailboxSite) -> None:
    box.start_watching()
    mid = box.leave("1001@default", make_wav(1.0, 1))
    assert box.watcher is not None
    box.watcher.call("VoicemailMove", [("Context", "default"), ("Mailbox", "1001"), ("Folder", "INBOX"),
                                       ("ID", row(box, mid).msg_id), ("ToFolder", "Work")])
    box.mailboxes.mark(ALICE, mid, read=True)
    assert folders(box) == ["Work/msg0000.txt", "Work/msg0000.wav"]
    assert row(box, mid).folder == "Work"
