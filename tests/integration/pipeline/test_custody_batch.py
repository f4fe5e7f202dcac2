"""The live pipeline's batch path on the real adapters and PostgreSQL: a discovery pass records its new
messages in one transaction and hands them over at once; one batch seals, strips and notifies them with
every per-message guarantee, and hands what fails to the per-message path."""

from __future__ import annotations

import email
import time
from collections.abc import Iterator, Sequence
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from tests.integration.pipeline.harness import make_wav, sha256
from tests.spool_envelopes import trunk_envelope
from voicemail.app import build_container
from voicemail.audit.chain import replay
from voicemail.audit.store import AuditLog
from voicemail.config import load_settings
from voicemail.container import Container
from voicemail.db.batch_store import SealedItem
from voicemail.db.models import ForwardRow, MessageRow, NotificationRow
from voicemail.domain.errors import IntegrityError
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import DISCOVERED, SEALED, STRIPPED, MailboxOwner, NotificationWork
from voicemail.services.export import export_recording
from voicemail.spool import is_placeholder_bytes
from voicemail.vault import FileKeyring

pytestmark = [pytest.mark.postgres]
BOXES = (MailboxRef("default", "1001"), MailboxRef("default", "2001"))


class Batches:
    def __init__(self, root: Path, database_url: str) -> None:
        self.root = root
        self.audio: dict[str, bytes] = {}  # msg_id -> recording as written
        FileKeyring.create(root / "keyring.json")
        env = {"VOICEMAIL_SPOOL_DIR": str(root / "spool"), "VOICEMAIL_DATABASE_URL": database_url,
               "VOICEMAIL_VAULT_DIR": str(root / "vault"), "VOICEMAIL_KEYRING": str(root / "keyring.json"),
               "VOICEMAIL_OUTBOX_DIR": str(root / "outbox"), "VOICEMAIL_MAIL_SENDER": "vm@example.test",
               "VOICEMAIL_CUSTODY_BATCH_SIZE": "4", "VOICEMAIL_SPOOL_GRACE_SECONDS": "0"}
        self.handed: list[list[str]] = []
        self.single: list[str] = []
        self.c: Container = build_container(load_settings(environ=env), on_new=self.single.append,
                                            on_new_batch=self.handed.append)
        for box in BOXES:
            self.c.store.upsert_mailbox(MailboxOwner(box, f"Owner {box.mailbox}", f"u{box.mailbox}@example.test"))
        self.n = 0

    def leave(self, box: MailboxRef, count: int) -> list[str]:
        inbox = self.root / "spool" / box.context / box.mailbox / "INBOX"
        inbox.mkdir(parents=True, exist_ok=True)
        msg_ids = []
        for _ in range(count):
            number = len(list(inbox.glob("msg*.txt")))
            origtime = 1796400000 + self.n
            (inbox / f"msg{number:04d}.txt").write_text(trunk_envelope(box.mailbox, self.n, origtime))
            audio = make_wav(0.2, seed=self.n)
            (inbox / f"msg{number:04d}.wav").write_bytes(audio)
            msg_id = f"{origtime}-{self.n:08x}"
            self.audio[msg_id] = audio
            msg_ids.append(msg_id)
            self.n += 1
        return msg_ids

    def state(self, message_id: str) -> str:
        return self.c.store.get(message_id).state

    def emls(self) -> list[Path]:
        return sorted((self.root / "outbox").glob("*.eml"))

    def plaintext_left(self) -> list[Path]:  # audio files of the spool that are not placeholders
        return [p for p in (self.root / "spool").rglob("*") if p.is_file() and p.suffix != ".txt"
                and not is_placeholder_bytes("wav", p.read_bytes())]


@pytest.fixture
def batches(tmp_path: Path, pg_url: str) -> Iterator[Batches]:
    b = Batches(tmp_path, pg_url)
    yield b
    b.c.close()


def test_a_discovery_pass_hands_its_new_messages_over_in_batches_of_the_configured_size(batches: Batches) -> None:
    batches.leave(BOXES[0], 6)
    batches.leave(BOXES[1], 2)
    report = batches.c.discovery.reconcile()
    assert report.new == 8
    assert sorted(len(b) for b in batches.handed) == [2, 2, 4]  # per mailbox, at most 4 at a time
    assert batches.single == []
    assert all(batches.state(m) == DISCOVERED for b in batches.handed for m in b)
    assert batches.c.discovery.reconcile().new == 0


def test_one_batch_seals_strips_and_notifies_every_message_once(batches: Batches) -> None:
    batches.leave(BOXES[0], 3)
    batches.leave(BOXES[1], 1)
    batches.c.discovery.reconcile()
    assert batches.c.batch_custody is not None and batches.c.batch_notifier is not None
    ids = [m for b in batches.handed for m in b]
    outcome = batches.c.batch_custody.take_custody(ids)
    assert sorted(outcome.notifications) == sorted(ids) and outcome.isolated == [] and outcome.skipped == []
    assert batches.plaintext_left() == []
    for message_id in ids:
        record = batches.c.store.get(message_id)
        assert record.state == STRIPPED
        out = batches.root / f"{message_id}.wav"
        export_recording(batches.c.vault, batches.c.keyring, record, out)
        assert sha256(out.read_bytes()) == sha256(batches.audio[record.msg_id])
    sent = batches.c.batch_notifier.send_many(list(outcome.notifications.values()))
    assert (sent.sent, sent.busy, sent.handed_back) == (4, 0, [])
    recipients = sorted(str(email.message_from_bytes(p.read_bytes(), policy=policy.default)["To"])
                        for p in batches.emls())
    assert recipients == ["u1001@example.test"] * 3 + ["u2001@example.test"]
    assert batches.c.store.summary()["notifications.sent"] == 4
    # the same batch again (a re-delivered task): nothing sealed or sent twice, nothing left to send
    again = batches.c.batch_custody.take_custody(ids)
    assert again.notifications == {} and again.isolated == [] and again.skipped == []
    assert batches.c.batch_notifier.send_many(list(outcome.notifications.values())).sent == 0
    assert len(batches.emls()) == 4
    events = AuditLog(batches.c.engine).events()
    for action in ("custody.discovered", "custody.sealed", "custody.stripped", "custody.notified"):
        assert sum(1 for e in events if e.action == action) == 4, action
    assert replay(events).ok


def test_a_message_that_fails_in_the_batch_is_handed_to_the_per_message_path_and_the_others_finish(
        batches: Batches, monkeypatch: pytest.MonkeyPatch) -> None:
    msg_ids = batches.leave(BOXES[0], 3)
    batches.c.discovery.reconcile()
    ids = batches.handed[0]
    poisoned = batches.c.store.find(BOXES[0], msg_ids[1])
    assert poisoned is not None
    vault = batches.c.vault
    real_verify = vault.verify

    def verify(blob_name: str, dek: bytes, key_id: bytes, expected: str) -> None:
        if blob_name.startswith(poisoned.id):  # its blob was written, and reads back wrong
            raise IntegrityError("the blob does not decrypt to what was read")
        real_verify(blob_name, dek, key_id, expected)

    monkeypatch.setattr(vault, "verify", verify)
    assert batches.c.batch_custody is not None
    outcome = batches.c.batch_custody.take_custody(ids)
    monkeypatch.setattr(vault, "verify", real_verify)
    assert outcome.isolated == [poisoned.id]
    assert sorted(outcome.notifications) == sorted(set(ids) - {poisoned.id})
    assert poisoned.state == DISCOVERED
    with batches.c.engine.connect() as conn:  # its run ended in our hands: no crash counted against it
        assert conn.scalar(select(MessageRow.deliveries).where(MessageRow.id == poisoned.id)) == 0
    assert not [p for p in (batches.root / "vault").rglob("*") if p.is_file() and poisoned.id in p.name]
    assert batches.c.custody.take_custody(poisoned.id) is not None  # the per-message path finishes it
    assert batches.plaintext_left() == []


def test_messages_whose_previous_run_died_are_never_batched_again(batches: Batches) -> None:
    batches.leave(BOXES[0], 3)
    batches.c.discovery.reconcile()
    ids = batches.handed[0]
    with batches.c.engine.begin() as conn:  # a batch that died with its worker left its runs counted
        conn.execute(update(MessageRow).where(MessageRow.id.in_(ids[:2])).values(deliveries=1))
    assert batches.c.batch_custody is not None
    outcome = batches.c.batch_custody.take_custody(ids)
    assert sorted(outcome.isolated) == sorted(ids[:2])
    assert list(outcome.notifications) == [ids[2]]
    assert {batches.state(m) for m in ids[:2]} == {DISCOVERED}


def test_a_run_overtaken_before_its_commit_removes_its_blobs_and_leaves_the_message_to_the_newer_run(
        batches: Batches, monkeypatch: pytest.MonkeyPatch) -> None:
    batches.leave(BOXES[0], 2)
    batches.c.discovery.reconcile()
    ids = batches.handed[0]
    assert batches.c.batch_custody is not None
    store = batches.c.batch_custody._store
    real = store.commit_sealed

    def overtaken(items: Sequence[SealedItem]) -> set[str]:
        batches.c.store.begin_custody(ids[0], 5)  # a re-delivered per-message run starts meanwhile
        return real(items)

    monkeypatch.setattr(store, "commit_sealed", overtaken)
    outcome = batches.c.batch_custody.take_custody(ids)
    assert outcome.skipped == [ids[0]] and list(outcome.notifications) == [ids[1]]
    assert batches.state(ids[0]) == DISCOVERED
    assert not [p for p in (batches.root / "vault").rglob("*") if p.is_file() and ids[0] in p.name]


def test_a_sealed_message_whose_strip_was_interrupted_is_stripped_by_the_next_batch(batches: Batches) -> None:
    batches.leave(BOXES[0], 2)
    batches.c.discovery.reconcile()
    ids = batches.handed[0]
    assert batches.c.custody.seal(ids[0]) == "sealed"  # sealed, then its worker died before the strip
    assert batches.state(ids[0]) == SEALED
    assert batches.c.batch_custody is not None
    outcome = batches.c.batch_custody.take_custody(ids)
    assert sorted(outcome.notifications) == sorted(ids)
    assert batches.plaintext_left() == []
    with batches.c.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(NotificationRow)) == 2


def test_a_notification_held_by_another_worker_is_left_alone_and_a_lost_lease_abandons_the_send(
        batches: Batches, monkeypatch: pytest.MonkeyPatch) -> None:
    batches.leave(BOXES[0], 3)
    batches.c.discovery.reconcile()
    assert batches.c.batch_custody is not None and batches.c.batch_notifier is not None
    notes = list(batches.c.batch_custody.take_custody(batches.handed[0]).notifications.values())
    held = batches.c.store.claim_notification(notes[0], 60)  # another worker is sending it
    assert held is not None and held.state == "sending"
    notifier = batches.c.batch_notifier
    notifier._lease = 0.2  # our leases run out while we are held up
    claimed = notifier._store.claim_notifications

    def claim_then_pause(ids: Sequence[str], lease: float) -> tuple[list[NotificationWork], list[str]]:
        got = claimed(ids, lease)
        time.sleep(0.3)
        batches.c.store.claim_notification(notes[1], 60)  # a sweeper's re-delivery overtakes one of ours
        return got

    monkeypatch.setattr(notifier._store, "claim_notifications", claim_then_pause)
    result = notifier.send_many(notes)
    assert (result.sent, result.busy, result.handed_back) == (1, 1, [notes[1]])
    assert [p.stem for p in batches.emls()] == [notes[2]]


def test_a_batch_takes_along_the_messages_of_its_mailbox_that_wait_for_their_task(batches: Batches) -> None:
    batches.leave(BOXES[0], 6)
    batches.leave(BOXES[1], 2)
    batches.c.discovery.reconcile()
    first, second = [b for b in batches.handed if len(b) == 4], [b for b in batches.handed if len(b) == 2]
    own = next(b for b in first if batches.c.store.get(b[0]).mailbox == BOXES[0])
    queued = next(b for b in second if batches.c.store.get(b[0]).mailbox == BOXES[0])
    other = next(b for b in second if batches.c.store.get(b[0]).mailbox == BOXES[1])
    assert batches.c.batch_custody is not None
    batches.c.batch_custody._batch_size = 10
    outcome = batches.c.batch_custody.take_custody(own)
    assert sorted(outcome.notifications) == sorted(own + queued)  # its mailbox's waiting ones, not another's
    assert {batches.state(m) for m in other} == {DISCOVERED}
    later = batches.c.batch_custody.take_custody(queued)  # their own task: custody done, notifications pending
    assert sorted(later.notifications) == sorted(queued)
    with batches.c.engine.begin() as conn:  # a message handed to the per-message task is not taken along
        conn.execute(update(MessageRow).where(MessageRow.id == other[0]).values(retry_at=func.now()))
    assert list(batches.c.batch_custody.take_custody(other[1:]).notifications) == other[1:]
    assert batches.state(other[0]) == DISCOVERED


def test_a_batch_of_notifications_tells_of_each_forward_from_one_look_up(batches: Batches) -> None:
    batches.leave(BOXES[0], 3)
    batches.c.discovery.reconcile()
    assert batches.c.batch_custody is not None and batches.c.batch_notifier is not None
    outcome = batches.c.batch_custody.take_custody(batches.handed[0])
    forwarded = batches.handed[0][1]
    with batches.c.engine.begin() as conn:  # one of them is a colleague's forward
        conn.execute(insert(ForwardRow).values(message_id=forwarded, source_message_id=batches.handed[0][0],
                                               forwarded_by="alice", forwarder_label="Alice Example (1001)",
                                               comment="Please call them back"))

    def one_by_one(message_id: str) -> None:
        raise AssertionError("a batch looks its forward notes up at once")

    batches.c.notifier._forward_note = one_by_one
    sent = batches.c.batch_notifier.send_many(list(outcome.notifications.values()))
    assert (sent.sent, sent.handed_back) == (3, [])
    bodies = {p.stem: email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in batches.emls()}
    texts = {n: "\n".join(part.get_content() for part in m.walk() if part.get_content_type() == "text/plain")
             for n, m in bodies.items()}
    told = [n for n, text in texts.items() if "Alice Example (1001)" in text and "Please call them back" in text]
    assert told == [outcome.notifications[forwarded]]
