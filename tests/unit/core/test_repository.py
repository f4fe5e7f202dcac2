"""The custody state store, on SQLite and on the real local PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.migrate import upgrade
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.models import (
    AudioFile,
    Caller,
    CallerKind,
    Envelope,
    MailboxRef,
    SealedRecording,
    SpoolMessage,
    WrappedKey,
)
from voicemail.domain.records import MailboxOwner

BOX = MailboxRef("default", "1001")


def spool_message(msg_id: str = "1795978545-00000000") -> SpoolMessage:
    env = Envelope(msg_id=msg_id, origmailbox="1001", context="vmlab", exten="play",
                   callerid='"Alice Internal" <1001>', origtime=1795978545, duration=3)
    return SpoolMessage(BOX, "INBOX", 0, "/spool/default/1001/INBOX/msg0000.txt", env,
                        (AudioFile("wav", "/spool/default/1001/INBOX/msg0000.wav"),))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMessageStore]:
    url = f"sqlite:///{tmp_path / 'vm.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    upgrade(engine)
    upgrade(engine)  # migrations are idempotent
    yield SqlMessageStore(make_sessionmaker(engine))
    engine.dispose()


def test_discovery_is_idempotent_on_mailbox_and_msg_id(store: SqlMessageStore) -> None:
    first, created = store.record_discovered(spool_message(), Caller.external(), b"txt")
    again, created_again = store.record_discovered(spool_message(), Caller.external(), b"txt")
    assert created and not created_again and first == again
    assert store.known_msg_ids(BOX) == {"1795978545-00000000"}


def test_seal_then_strip_creates_exactly_one_notification(store: SqlMessageStore) -> None:
    mid, _ = store.record_discovered(spool_message(), Caller(CallerKind.INTERNAL, "Alice", "1001"), b"txt")
    rec = SealedRecording("wav", f"{mid}.wav", "ab" * 32, 61356)
    assert store.mark_sealed(mid, WrappedKey("k1", b"wrapped"), [rec]) is True
    assert store.mark_sealed(mid, WrappedKey("k1", b"other"), [rec]) is False  # second seal changes nothing
    got = store.get(mid)
    assert got.state == "sealed" and got.recordings == (rec,) and got.wrapped_key == WrappedKey("k1", b"wrapped")
    assert got.caller == Caller(CallerKind.INTERNAL, "Alice", "1001")
    n1 = store.mark_stripped(mid)
    n2 = store.mark_stripped(mid)
    assert n1 == n2 and store.get(mid).state == "stripped"
    work = store.claim_notification(n1)
    assert work is not None and work.attempts == 1
    store.mark_notification_sent(n1, "alice@example.test")
    assert store.claim_notification(n1) is None  # sent: never claimed again


def test_external_caller_row_holds_no_classified_identity(store: SqlMessageStore) -> None:
    mid, _ = store.record_discovered(spool_message(), Caller.external(), b"txt")
    assert store.get(mid).caller == Caller.external()


def test_stuck_work_is_found_and_dead_letters_are_excluded(store: SqlMessageStore) -> None:
    a, _ = store.record_discovered(spool_message("1795978545-00000001"), Caller.external(), b"")
    b, _ = store.record_discovered(spool_message("1795978545-00000002"), Caller.external(), b"")
    time.sleep(0.05)
    assert {w.id for w in store.stuck(0.01)} == {a, b}
    store.dead_letter("workers.tasks.seal_message", b, "PermanentError: boom", 1)
    assert {w.id for w in store.stuck(0.01)} == {a}
    store.touch("message", a)
    assert store.stuck(30) == []
    assert store.dead_letters() == [("workers.tasks.seal_message", b, "PermanentError: boom", 1)]


def test_vanished_message_is_reopened_when_it_reappears(store: SqlMessageStore) -> None:
    mid, _ = store.record_discovered(spool_message(), Caller.external(), b"")
    store.mark_vanished(mid)
    assert store.known_msg_ids(BOX) == set()
    again, created = store.record_discovered(spool_message(), Caller.external(), b"")
    assert (again, created) == (mid, True)
    assert store.get(mid).state == "discovered"


def test_mailbox_owner_upsert(store: SqlMessageStore) -> None:
    store.upsert_mailbox(MailboxOwner(BOX, "Alice Internal", "alice@example.test"))
    store.upsert_mailbox(MailboxOwner(BOX, "Alice I.", "alice@example.test"))
    owner = store.owner(BOX)
    assert owner is not None and owner.fullname == "Alice I."
    assert store.owner(MailboxRef("default", "9999")) is None
