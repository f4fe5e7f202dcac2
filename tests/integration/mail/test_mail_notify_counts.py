"""The notification counts the mailbox's new messages from the database (this one included) and mentions
play on my phone only when that feature is on; sent through the outbox sender, read back as .eml files."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer import MailSettings
from mailer.registry import build_mailer
from tests.unit.mailer.mailer_testdata import parse
from voicemail.db.engine import make_store_sessions
from voicemail.db.mailbox_counts import NewMessageCounter
from voicemail.db.migrate import upgrade
from voicemail.db.models import MessageRow, NotificationRow, utcnow
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import MailboxOwner
from voicemail.services.notify import Notifier, NotifySettings

BOX = MailboxRef("default", "2001")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[SqlMessageStore, NewMessageCounter]]:
    engine, reads, sessions, read_sessions = make_store_sessions(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    store = SqlMessageStore(sessions, read_sessions)
    store.upsert_mailbox(MailboxOwner(BOX, "Carol Owner", "carol@example.test", "Europe/Berlin"))
    yield store, NewMessageCounter(engine)
    engine.dispose()
    reads.dispose()


def _message(store: SqlMessageStore, n: int, folder: str = "INBOX") -> str:
    """A stripped message from an internal caller with its pending notification; the notification's id."""
    message_id, notification_id = str(uuid.uuid4()), str(uuid.uuid4())
    with store._sessions.begin() as s:
        s.add(MessageRow(id=message_id, context=BOX.context, mailbox=BOX.mailbox, msg_id=f"1795978545-{n:08x}",
                         state="stripped", folder=folder, origtime=1795978545 + n, duration=12, urgent=False,
                         caller_context="vm-internal", callerid_raw='"Alice" <1001>', caller_kind="internal",
                         caller_name="Alice", caller_number="1001",
                         envelope=b"", attempts=0, last_error="", discovered_at=utcnow(), updated_at=utcnow()))
        s.flush()
        s.add(NotificationRow(id=notification_id, message_id=message_id, state="pending", attempts=0,
                              last_error="", recipient="", created_at=utcnow(), updated_at=utcnow()))
    return notification_id


def _sent_text(tmp_path: Path, store: SqlMessageStore, counter: NewMessageCounter, notification_id: str,
               play_on_phone: bool) -> str:
    outbox = tmp_path / f"outbox-{notification_id}"
    notifier = Notifier(store, build_mailer("outbox", directory=outbox), MailSettings(sender="vm@example.org"),
                        NotifySettings("https://vm.example.org", play_on_phone=play_on_phone),
                        new_messages=counter)
    assert notifier.send(notification_id) == "sent"
    [eml] = list(outbox.glob("*.eml"))
    plain = next(iter(parse(eml.read_bytes()).iter_parts())).get_content()
    assert isinstance(plain, str)
    return plain


def test_notification_counts_the_new_messages_waiting(tmp_path: Path,
                                                      db: tuple[SqlMessageStore, NewMessageCounter]) -> None:
    store, counter = db
    _message(store, 1)
    _message(store, 2)
    _message(store, 3, folder="Old")  # heard already: not new
    newest = _message(store, 4)
    assert counter(BOX) == 3
    assert "You have 3 new messages." in _sent_text(tmp_path, store, counter, newest, play_on_phone=False)


def test_play_on_phone_is_mentioned_only_when_switched_on(tmp_path: Path,
                                                          db: tuple[SqlMessageStore, NewMessageCounter]) -> None:
    store, counter = db
    off = _sent_text(tmp_path, store, counter, _message(store, 1), play_on_phone=False)
    on = _sent_text(tmp_path, store, counter, _message(store, 2), play_on_phone=True)
    assert "played on your phone" not in off
    assert "From the web player you can also have it played on your phone." in on
    assert "You have 1 new message." in off and "You have 2 new messages." in on
