"""Custody services on real adapters (FileSpool, FileVault, FileKeyring, SQLite, outbox): no mocks."""

from __future__ import annotations

import email
import hashlib
import shutil
from collections.abc import Callable
from email import policy
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from mailer.outbox import OutboxMailer
from mailer.settings import MailSettings
from tests.conftest import CAPTURES
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.migrate import upgrade
from voicemail.db.repository import SqlMessageStore
from voicemail.directory import CsvDirectory, classify
from voicemail.domain.errors import SpoolChanged
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import MailboxOwner
from voicemail.services.custody import Custody
from voicemail.services.discovery import Discovery
from voicemail.services.export import export_recording
from voicemail.services.notify import Notifier, NotifySettings
from voicemail.spool import FileSpool, is_placeholder_bytes
from voicemail.vault import FileKeyring, FileVault, seal_writer
from voicemail.vault.seal_writer import PIPELINE_MIN_BYTES
from voicemail.vault.stage import Stage

BOX = MailboxRef("default", "2001")


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        inbox = root / "spool" / "default" / "2001" / "INBOX"
        inbox.mkdir(parents=True)
        samples = ["spool-2001-INBOX-msg0000.dialplan-vmleave-int.txt",
                   "spool-2001-INBOX-msg0001.dialplan-vmleave-ext.txt",
                   "spool-2001-INBOX-msg0002.dialplan-vmleave-anon.txt"]
        self.audio = {}
        for n, name in enumerate(samples):
            shutil.copyfile(CAPTURES / name, inbox / f"msg{n:04d}.txt")
            data = (CAPTURES / "msg0000.wav").read_bytes()[:-n * 100 or None]  # three different recordings
            (inbox / f"msg{n:04d}.wav").write_bytes(data)
            self.audio[n] = data
        (root / "directory.csv").write_text("number,name,email\n1001,Alice Internal,alice@example.test\n")
        engine = make_engine(f"sqlite:///{root / 'vm.db'}")
        upgrade(engine)
        self.store = SqlMessageStore(make_sessionmaker(engine))
        self.store.upsert_mailbox(MailboxOwner(BOX, "Carol", "carol@example.test"))
        self.spool = FileSpool(root / "spool")
        self.vault = FileVault(root / "vault")
        self.keyring = FileKeyring.create(root / "keyring.json")
        self.enqueued: list[str] = []
        directory = CsvDirectory(root / "directory.csv")
        self.discovery = Discovery(self.spool, self.store, partial(
            classify, internal_contexts=frozenset({"vmleave-int"}), directory=directory), self.enqueued.append)
        self.custody = Custody(self.spool, self.vault, self.keyring, self.store)
        self.notifier = Notifier(self.store, OutboxMailer(root / "outbox"), MailSettings(sender="vm@example.test"),
                                 NotifySettings("https://voicemail.example.test"), directory)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_full_custody_replaces_audio_and_keeps_the_envelope(world: World) -> None:
    report = world.discovery.reconcile()
    assert (report.seen, report.new) == (3, 3)
    assert world.discovery.reconcile().new == 0  # idempotent
    for mid in world.enqueued:
        assert world.custody.seal(mid) == "sealed"
        world.notifier.send(world.custody.strip(mid))
    for path in (world.root / "spool").rglob("msg*.wav"):
        assert is_placeholder_bytes("wav", path.read_bytes())
    assert len(list((world.root / "spool").rglob("msg*.txt"))) == 3
    assert len(list((world.root / "outbox").glob("*.eml"))) == 3


def test_export_is_bit_identical_to_the_recording(world: World, tmp_path: Path) -> None:
    world.discovery.reconcile()
    mid = world.enqueued[0]
    world.custody.seal(mid)
    world.custody.strip(mid)
    record = world.store.get(mid)
    out = tmp_path / "out.wav"
    written, digest = export_recording(world.vault, world.keyring, record, out)
    original = world.audio[0]
    assert out.read_bytes() == original and digest == hashlib.sha256(original).hexdigest()
    assert written == len(original)
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_a_long_recording_is_sealed_on_threads_and_exports_bit_identical(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wav = world.root / "spool" / "default" / "2001" / "INBOX" / "msg0000.wav"
    long = world.audio[0] + bytes(range(256)) * (PIPELINE_MIN_BYTES // 256 + 7)
    wav.write_bytes(long)
    started: list[str] = []

    def counted(work: Callable[[Any], object], name: str) -> Stage[Any]:
        started.append(name)
        return Stage(work, name)

    monkeypatch.setattr(seal_writer, "several_cpus", lambda: True)
    monkeypatch.setattr(seal_writer, "Stage", counted)
    world.discovery.reconcile()
    mid = world.enqueued[0]
    assert world.custody.seal(mid) == "sealed"
    assert started == ["seal-sha256", "seal-write"]  # the custody's source still reads as a regular file
    world.custody.strip(mid)
    out = tmp_path / "out.wav"
    _, digest = export_recording(world.vault, world.keyring, world.store.get(mid), out)
    assert out.read_bytes() == long and digest == hashlib.sha256(long).hexdigest()


def test_seal_and_strip_are_idempotent_and_notify_once(world: World) -> None:
    world.discovery.reconcile()
    mid = world.enqueued[0]
    assert world.custody.seal(mid) == "sealed"
    assert world.custody.seal(mid) == "already"
    n1 = world.custody.strip(mid)
    assert world.custody.strip(mid) == n1
    assert world.notifier.send(n1) == "sent"
    assert world.notifier.send(n1) == "already"
    assert len(world.store.get(mid).recordings) == 1
    blobs = [p for p in (world.root / "vault").rglob("*") if p.is_file()]
    assert len(blobs) == 1  # no blob left behind by the second seal


def test_unsealed_message_is_never_stripped(world: World) -> None:
    world.discovery.reconcile()
    mid = world.enqueued[0]
    with pytest.raises(SpoolChanged):
        world.custody.strip(mid)
    assert not is_placeholder_bytes("wav", (world.root / "spool/default/2001/INBOX/msg0000.wav").read_bytes())


def test_internal_caller_named_and_external_caller_absent(world: World) -> None:
    world.discovery.reconcile()
    for mid in world.enqueued:
        world.custody.seal(mid)
        world.notifier.send(world.custody.strip(mid))
    subjects = sorted(email.message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"]
                      for p in (world.root / "outbox").glob("*.eml"))
    assert subjects == ["Voice message from Alice Internal (1001)", "Voice message from an outside caller",
                        "Voice message from an outside caller"]
    for p in (world.root / "outbox").glob("*.eml"):
        assert b"2025550123" not in p.read_bytes()


def test_message_deleted_before_sealing_is_marked_vanished(world: World) -> None:
    world.discovery.reconcile()
    mid = world.enqueued[0]
    for p in (world.root / "spool/default/2001/INBOX").glob("msg0000.*"):
        p.unlink()
    assert world.custody.seal(mid) == "vanished"
    assert world.store.get(mid).state == "vanished"


def test_vault_orphans_from_interrupted_seals_are_removed_and_records_kept(world: World) -> None:
    import os

    from voicemail.services.vault_gc import collect_orphans

    world.discovery.reconcile()
    sealed, pending, parked = world.enqueued
    world.custody.seal(sealed)
    kept = {r.blob_name for r in world.store.get(sealed).recordings}
    # what a worker killed after writing its blob (before the commit) leaves behind
    orphan = world.vault.path_for(f"{sealed}.wav.deadbeef")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"ciphertext whose key was never stored")
    killed = world.store.begin_custody(pending, 5)  # a run that died with its worker...
    run = world.store.begin_custody(pending, 5)  # ...and the newest run, still sealing
    stale = world.vault.path_for(f"{pending}.wav.{killed.attempt}")
    in_flight = world.vault.path_for(f"{pending}.wav.{run.attempt}")
    dead_end = world.store.begin_custody(parked, 5)  # a run of a message parked as dead letter since
    world.store.dead_letter("workers.tasks.seal_message", parked, "CrashLoop: test", 5)
    parked_blob = world.vault.path_for(f"{parked}.wav.{dead_end.attempt}")
    for p in (stale, in_flight, parked_blob):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    temp = orphan.parent / ".seal-interrupted"
    temp.write_bytes(b"x")
    fresh = world.vault.path_for("00000000-0000-0000-0000-000000000000.wav.11111111")
    fresh.parent.mkdir(parents=True, exist_ok=True)
    fresh.write_bytes(b"x")
    old = 0.0
    for p in (orphan, in_flight, temp, stale, parked_blob):
        os.utime(p, (old, old))
    removed = collect_orphans(world.vault, world.store.vault_references, older_than_seconds=60)
    assert removed == 4
    assert not orphan.exists() and not temp.exists() and not stale.exists() and not parked_blob.exists()
    assert in_flight.exists() and fresh.exists()  # the newest run may still commit; too young to judge
    assert all(world.vault.exists(name) for name in kept)
