"""The notification service through the composition root's sender choice, to real peers, with the
database state machine: sent once; transient failures keep the notification for a retry with the server's
hint; permanent ones park it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer import MailSettings
from mailer.errors import RetryLater
from mailer.registry import build_mailer
from tests.integration.mail.graph_peer import GraphPeer
from tests.integration.mail.smtp_peer import running_smtp_peer
from tests.integration.mail.tls import TestCertificates
from tests.unit.mailer.mailer_testdata import parse
from voicemail.app import mailer_settings
from voicemail.config import load_settings
from voicemail.db.engine import make_store_sessions
from voicemail.db.migrate import upgrade
from voicemail.db.models import MessageRow, NotificationRow, utcnow
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.errors import PermanentError
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import MailboxOwner
from voicemail.services.notify import Notifier, NotifySettings
from workers.tasks import countdown

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
BOX = MailboxRef("default", "2001")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMessageStore]:
    engine, reads, sessions, read_sessions = make_store_sessions(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    store = SqlMessageStore(sessions, read_sessions)
    store.upsert_mailbox(MailboxOwner(BOX, "Carol Owner", "carol@example.test", "Europe/Berlin"))
    yield store
    engine.dispose()
    reads.dispose()


def stripped_message(store: SqlMessageStore, caller_number: str = "+12025550123") -> str:
    """A stripped message from an outside caller (its raw caller id on record) and its pending notification."""
    message_id, notification_id = str(uuid.uuid4()), str(uuid.uuid4())
    with store._sessions.begin() as s:
        s.add(MessageRow(id=message_id, context=BOX.context, mailbox=BOX.mailbox, msg_id="1795978545-00000001",
                         state="stripped", folder="INBOX", origtime=1795978545, duration=12, urgent=True,
                         caller_context="from-trunk", callerid_raw=f'"Mallory" <{caller_number}>',
                         caller_kind="external", envelope=b"", attempts=0, last_error="",
                         discovered_at=utcnow(), updated_at=utcnow()))
        s.flush()
        s.add(NotificationRow(id=notification_id, message_id=message_id, state="pending", attempts=0,
                              last_error="", recipient="", created_at=utcnow(), updated_at=utcnow()))
    return notification_id


def notifier_for(env: dict[str, str], store: SqlMessageStore, **extra: object) -> Notifier:
    settings = load_settings(environ=env)
    kwargs, sender = mailer_settings(settings)
    mailer = build_mailer(settings.mailer, **{**kwargs, **extra})
    return Notifier(store, mailer, MailSettings(sender=sender), NotifySettings("https://vm.example.org"))


def state_of(store: SqlMessageStore, notification_id: str) -> tuple[str, str]:
    [row] = [n for n in store.list_notifications() if n.id == notification_id]
    return row.state, row.recipient


def test_smtp_from_settings_sends_once_to_the_owner(store: SqlMessageStore, certificates: TestCertificates) -> None:
    with running_smtp_peer("starttls", certificates.server_context()) as peer:
        env = {"VOICEMAIL_MAILER": "smtp", "VOICEMAIL_SMTP_HOST": "127.0.0.1", "VOICEMAIL_SMTP_PORT": str(peer.port),
               "VOICEMAIL_SMTP_USERNAME": peer.username, "VOICEMAIL_SMTP_PASSWORD": peer.password,
               "VOICEMAIL_SMTP_SENDER": "voicemail@example.org", "VOICEMAIL_SMTP_CA_FILE": str(certificates.ca_file)}
        notifier = notifier_for(env, store)
        notification_id = stripped_message(store)
        assert notifier.send(notification_id) == "sent"
        assert notifier.send(notification_id) == "already"
        [delivered] = peer.delivered
    assert delivered.rcpt_tos == ["carol@example.test"] and delivered.mail_from == "voicemail@example.org"
    message = parse(delivered.content)
    assert message["Subject"] == "[Urgent] Voice message from an outside caller"
    assert b"2025550123" not in delivered.content and b"Mallory" not in delivered.content
    assert state_of(store, notification_id) == ("sent", "carol@example.test")


def graph_env(peer: GraphPeer) -> dict[str, str]:
    return {"VOICEMAIL_MAILER": "graph", "VOICEMAIL_GRAPH_TENANT_ID": peer.tenant,
            "VOICEMAIL_GRAPH_CLIENT_ID": peer.client_id, "VOICEMAIL_GRAPH_CLIENT_SECRET": peer.client_secret,
            "VOICEMAIL_GRAPH_SENDER": "voicemail@example.org", "VOICEMAIL_GRAPH_AUTHORITY": peer.origin,
            "VOICEMAIL_GRAPH_ENDPOINT": peer.origin}


def test_graph_throttling_keeps_the_notification_for_a_retry_no_sooner_than_asked(
        store: SqlMessageStore, graph_peer: GraphPeer, certificates: TestCertificates) -> None:
    notifier = notifier_for(graph_env(graph_peer), store, ca_file=str(certificates.ca_file))
    notification_id = stripped_message(store)
    graph_peer.mode, graph_peer.retry_after = "throttled", "120"
    with pytest.raises(RetryLater) as caught:
        notifier.send(notification_id)
    assert state_of(store, notification_id)[0] == "sending"  # not failed: the worker retries it
    assert countdown(caught.value, retries=0, cap=300) >= 120
    graph_peer.mode = "ok"
    assert notifier.send(notification_id) == "sent"  # the retry
    assert len(graph_peer.messages) == 1
    assert state_of(store, notification_id) == ("sent", "carol@example.test")


def test_graph_refusal_marks_the_notification_failed(store: SqlMessageStore, graph_peer: GraphPeer,
                                                     certificates: TestCertificates) -> None:
    notifier = notifier_for(graph_env(graph_peer), store, ca_file=str(certificates.ca_file))
    notification_id = stripped_message(store)
    graph_peer.mode = "forbidden"
    with pytest.raises(PermanentError):
        notifier.send(notification_id)
    state, _ = state_of(store, notification_id)
    assert state == "failed"
    [row] = store.list_notifications(failed_only=True)
    assert "403" in row.last_error and "2025550123" not in row.last_error
