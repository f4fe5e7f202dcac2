"""The durability order of the batch paths, on the real spool, vault, outbox and store (SQLite), with every
fsync and file-system sync recorded (tests/durability.py): whatever a commit records must survive a crash
of the machine at that moment. A blob is durable before the commit that points to it, a placeholder
before the commit that records the strip, an e-mail in the outbox before its send is recorded. Each path
runs with a batch below the sync threshold (each file fsynced) and one above it (one sync of the file
system per step)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.durability import DurabilityLog
from tests.spool_envelopes import trunk_envelope
from voicemail.app import build_container, build_spool_import
from voicemail.config import load_settings
from voicemail.container import Container
from voicemail.db.import_store import SealedImport
from voicemail.domain.models import MailboxRef, SealedRecording
from voicemail.domain.records import STRIPPED, MailboxOwner
from voicemail.spool import is_placeholder_bytes
from voicemail.vault import FileKeyring

BOX = MailboxRef("default", "1001")
SYNC_FROM = 8  # the batch size from which the batch paths sync the file system instead of fsyncing each file
SMALL, LARGE = 3, 12


class World:
    """A site on SQLite with ``count`` messages waiting in one mailbox's INBOX."""

    def __init__(self, root: Path, count: int) -> None:
        self.root = root
        FileKeyring.create(root / "keyring.json")
        (root / "outbox").mkdir()  # made when the service is installed (systemd's StateDirectory)
        self.handed: list[list[str]] = []
        settings = load_settings(environ={}, overrides={
            "database_url": f"sqlite:///{root / 'vm.db'}", "spool_dir": str(root / "spool"),
            "vault_dir": str(root / "vault"), "keyring": str(root / "keyring.json"),
            "outbox_dir": str(root / "outbox"), "mail_sender": "vm@example.test", "spool_grace_seconds": 0,
            "log_level": "WARNING"})
        self.c: Container = build_container(settings, on_new=lambda _id: None, on_new_batch=self.handed.append)
        self.c.store.upsert_mailbox(MailboxOwner(BOX, "Owner", "owner@example.test"))
        inbox = root / "spool" / BOX.context / BOX.mailbox / "INBOX"
        inbox.mkdir(parents=True)
        for n in range(count):
            origtime = 1790000000 + n
            (inbox / f"msg{n:04d}.txt").write_text(trunk_envelope("1001", n, origtime))
            (inbox / f"msg{n:04d}.wav").write_bytes(b"RIFF" + random.Random(n).randbytes(3000))
        self.paths = {f"{1790000000 + n}-{n:08x}": inbox / f"msg{n:04d}.wav" for n in range(count)}
        self.log = DurabilityLog(root)

    def audio_of(self, message_ids: Iterable[str]) -> Iterator[Path]:
        for message_id in message_ids:
            yield self.paths[self.c.store.get(message_id).msg_id]

    def blobs(self, recordings: Iterable[SealedRecording]) -> Iterator[Path]:
        for rec in recordings:
            yield self.c.vault.path_for(rec.blob_name)


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    w = World(tmp_path, request.param)
    yield w
    w.c.close()


def _taken(world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Discover the waiting messages and take them into custody in one batch, commits watched."""
    assert world.c.discovery.reconcile().new == len(world.paths)
    assert world.c.batch_custody is not None and len(world.handed) == 1
    store = world.c.batch_custody._store
    world.log.install(monkeypatch)
    world.log.spy(monkeypatch, store, "commit_sealed",
                  lambda items: world.blobs(rec for item in items for rec in item.recordings))
    world.log.spy(monkeypatch, store, "commit_stripped", lambda stripped, *_: world.audio_of(stripped))
    outcome = world.c.batch_custody.take_custody(world.handed[0])
    assert outcome.isolated == [] and outcome.skipped == []
    assert len(outcome.notifications) == len(world.paths)
    return outcome.notifications


@pytest.mark.parametrize("world", [SMALL, LARGE], indirect=True, ids=["fsync-each", "one-sync"])
def test_a_custody_batch_makes_each_blob_and_placeholder_durable_before_committing_it(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _taken(world, monkeypatch)
    assert world.log.violations == [], world.log.events
    assert world.log.events.count("commit commit_sealed") == world.log.events.count("commit commit_stripped") == 1
    for path in world.paths.values():
        assert is_placeholder_bytes("wav", path.read_bytes())
    assert all(world.c.store.get(m).state == STRIPPED for b in world.handed for m in b)
    # the path the batch's size chose: one sync per step, or an fsync of every blob and no sync at all
    fsynced_blobs = sum(1 for e in world.log.events if e.startswith("fsync vault/") and ".seal-" in e)
    if len(world.paths) >= SYNC_FROM:
        assert world.log.count("sync") == 2 and fsynced_blobs == 0
    else:
        assert world.log.count("sync") == 0 and fsynced_blobs == len(world.paths)


@pytest.mark.parametrize("world", [SMALL, LARGE], indirect=True, ids=["fsync-each", "one-sync"])
def test_a_notification_batch_makes_each_email_durable_before_recording_it_sent(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    notifications = _taken(world, monkeypatch)
    assert world.c.batch_notifier is not None
    world.log.events.clear()
    world.log.violations.clear()
    outbox = world.root / "outbox"
    world.log.spy(monkeypatch, world.c.batch_notifier._store, "mark_sent",
                  lambda sent: (outbox / f"{n}.eml" for n, _, _ in sent))
    result = world.c.batch_notifier.send_many(list(notifications.values()))
    assert (result.sent, result.handed_back) == (len(world.paths), [])
    assert world.log.violations == [], world.log.events
    assert len(list(outbox.glob("*.eml"))) == len(world.paths)
    fsynced_emails = world.log.count("fsync outbox/.tmp-")
    if len(world.paths) >= SYNC_FROM:
        assert world.log.count("sync") == 1 and fsynced_emails == 0
    else:
        assert world.log.count("sync") == 0 and fsynced_emails == len(world.paths)


@pytest.mark.parametrize("world", [SMALL, LARGE], indirect=True, ids=["fsync-each", "one-sync"])
def test_an_email_an_interrupted_batch_left_unsynced_is_made_durable_before_its_send_is_recorded(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    notifications = _taken(world, monkeypatch)
    assert world.c.batch_notifier is not None
    outbox = world.root / "outbox"
    for notification_id in notifications.values():  # written by a batch whose worker died before its sync
        (outbox / f"{notification_id}.eml").write_bytes(b"Subject: the same notification\r\n\r\n")
    world.log.events.clear()
    world.log.violations.clear()
    world.log.spy(monkeypatch, world.c.batch_notifier._store, "mark_sent",
                  lambda sent: (outbox / f"{n}.eml" for n, _, _ in sent))
    result = world.c.batch_notifier.send_many(list(notifications.values()))
    assert (result.sent, result.handed_back) == (len(world.paths), [])
    assert world.log.violations == [], world.log.events
    assert len(list(outbox.glob("*.eml"))) == len(world.paths)  # sent again, the outbox keeps one file each


@pytest.mark.parametrize(("world", "batch"), [(SMALL, SMALL), (LARGE, 5)], indirect=["world"],
                         ids=["one-batch", "several-batches"])
def test_the_import_makes_each_blob_and_placeholder_durable_before_committing_it(
        world: World, batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    importer, store = build_spool_import(world.c, batch_size=batch, rate=0, threads=4)
    run = store.open_run(1795000000, False, "test")
    where: dict[str, list[Path]] = {}  # message id -> its audio in the spool, from the commit of its seal

    def sealed(batch: list[SealedImport], notify: bool) -> Iterator[Path]:
        for item in batch:
            where[item.message_id] = [Path(a.path) for a in item.message.audio]
            yield from world.blobs(item.recordings)

    world.log.install(monkeypatch)
    world.log.spy(monkeypatch, store, "commit_sealed", sealed)
    world.log.spy(monkeypatch, store, "mark_stripped",
                  lambda ids, notify: (path for m in ids for path in where[m]))
    report = importer.run(run)
    assert report.imported == len(world.paths) and report.problems == 0
    assert world.log.violations == [], world.log.events
    batches = -(-len(world.paths) // batch)
    assert world.log.events.count("commit commit_sealed") == world.log.events.count("commit mark_stripped") == batches
    for path in world.paths.values():
        assert is_placeholder_bytes("wav", path.read_bytes())
