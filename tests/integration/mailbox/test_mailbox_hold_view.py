"""A delete under a legal hold looks like a real delete on the phone system too: the message leaves the
owner's INBOX for Cust5 (VoicemailMove, confirmed), Asterisk's counts and the lamp drop, and nothing the
hold protects is removed. After the hold is released the owner's deletion takes its course: retention
destroys the message (key, blobs, and the envelope in Cust5) like any other deleted one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.mailbox.harness import ALICE, ALICE_BOX, INVESTIGATOR, MailboxSite, mailbox_site
from tests.integration.pipeline.harness import make_wav, sha256, wait_for
from voicemail.ami.actions import Counts, mailbox_count
from voicemail.audit.signing import SigningKey
from voicemail.domain.errors import AmiError
from voicemail.domain.mailbox import InboxQuery
from voicemail.lifecycle.wiring import Lifecycle
from voicemail.services.export import export_recording
from voicemail.services.mailbox import HOLD_FOLDER
from voicemail.spool import is_placeholder_bytes


def counts(box: MailboxSite) -> Counts:
    assert box.watcher is not None
    return box.watcher.run(lambda c: mailbox_count(c, ALICE_BOX), timeout=10)


def test_a_held_delete_leaves_the_owners_inbox_and_lamp_and_keeps_everything(box: MailboxSite, tmp_path) -> None:  # type: ignore[no-untyped-def]
    box.start_watching()
    kept_audio, held_audio = make_wav(1.0, 21), make_wav(1.0, 22)
    box.leave("1001@default", kept_audio)
    held = box.leave("1001@default", held_audio)
    assert (counts(box).new, counts(box).old) == (2, 0)
    box.hold(held)

    box.mailboxes.delete(ALICE, held)

    assert (counts(box).new, counts(box).old, counts(box).urgent) == (1, 0, 0)  # as after a real delete
    wait_for(lambda: bool(box.seen("MessageWaiting", Mailbox="1001@default", New="1", Old="0")), 5, "MWI 1/0")
    spool = box.site.spool / "default" / "1001"
    assert sorted(p.name for p in (spool / HOLD_FOLDER).iterdir()) == ["msg0000.txt", "msg0000.wav"]
    assert is_placeholder_bytes("wav", (spool / HOLD_FOLDER / "msg0000.wav").read_bytes())
    assert sorted(p.name for p in (spool / "INBOX").iterdir()) == ["msg0000.txt", "msg0000.wav"]
    assert box.container.store.get(held).folder == HOLD_FOLDER
    # nothing the hold protects is gone: the sealed copy opens, bit-identical
    record = box.container.store.get(held)
    export_recording(box.container.vault, box.container.keyring, record, tmp_path / "evidence.wav")
    assert sha256((tmp_path / "evidence.wav").read_bytes()) == sha256(held_audio)
    delete = [d for _a, act, _o, d in box.audit(held) if act == "message.delete"]
    assert delete == [{"held": True, "result": "hidden", "asterisk_folder": HOLD_FOLDER}]
    # the spool scan does not bring it back to the owner
    box.container.discovery.scan(ALICE_BOX)
    assert box.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery()).total == 1


def test_after_release_the_owners_deletion_completes(tmp_path: Path) -> None:
    SigningKey.create(tmp_path / "signing.pem")
    with mailbox_site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}",
                      audit_signing_key=str(tmp_path / "signing.pem"),
                      retention_records_dir=str(tmp_path / "records")) as box:
        _release_then_retention(box)


def _release_then_retention(box: MailboxSite) -> None:
    box.start_watching()
    held = box.leave("1001@default", make_wav(1.0, 23))
    box.hold(held)
    box.mailboxes.delete(ALICE, held)
    inv = box.investigations()
    (hold_id,) = [h.id for h in inv.holds.active() if h.message_id == held]
    inv.holds.release(INVESTIGATOR, hold_id, reason="case closed")
    assert (counts(box).new, counts(box).old) == (0, 0)  # release does not resurrect a deleted message

    later = time.time() + 2 * 86400  # messages.deleted: one day after the owner's deletion
    report = Lifecycle(box.container, now=lambda: later, db_clock=lambda: later).runner("retention", "test").run()

    assert report.destroyed == 1 and report.failed == 0
    assert box.container.store.get(held).state == "destroyed"
    spool = box.site.spool / "default" / "1001"
    assert not (spool / HOLD_FOLDER).exists() or list((spool / HOLD_FOLDER).iterdir()) == []


def test_a_held_delete_during_an_ami_outage_is_moved_by_the_next_retention_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    SigningKey.create(tmp_path / "signing.pem")
    with mailbox_site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}",
                      audit_signing_key=str(tmp_path / "signing.pem"),
                      retention_records_dir=str(tmp_path / "records")) as box:
        box.start_watching()
        held = box.leave("1001@default", make_wav(1.0, 24))
        box.hold(held)
        control = box.services._control
        assert control is not None

        def outage(*_args: object) -> None:
            raise AmiError("connection refused")

        monkeypatch.setattr(control, "move", outage)
        box.mailboxes.delete(ALICE, held)  # no error: the same success as a delete without a hold
        assert [d["asterisk_folder"] for _, act, _, d in box.audit(held) if act == "message.delete"] == ["pending"]
        assert box.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery()).total == 0
        assert counts(box).new == 1
        monkeypatch.undo()

        report = Lifecycle(box.container).runner("retention", "test").run()

        assert report.destroyed == 0
        assert counts(box).new == 0
        assert box.container.store.get(held).folder == HOLD_FOLDER
        assert box.container.store.get(held).wrapped_key is not None
