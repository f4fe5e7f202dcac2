"""Failed notifications: parked once, listed for the administrator, re-sent from the CLI (SQLite, no mocks)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from mailer import MailSettings, OutboxMailer
from voicemail.cli import main
from voicemail.config import Settings
from voicemail.db.models import MessageRow, NotificationRow
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.errors import InvalidInput, NotFound
from voicemail.services.notify import Notifier, NotifySettings
from workers import runtime
from workers.tasks import send_notification

OLD = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def add_notification(store: SqlMessageStore, state: str = "pending", mailbox: str = "2001",
                     last_error: str = "") -> str:
    message_id, notification_id = str(uuid.uuid4()), str(uuid.uuid4())
    with store._sessions.begin() as s:  # the rows a stripped message leaves behind
        s.add(MessageRow(id=message_id, context="default", mailbox=mailbox, msg_id=f"1795978545-{uuid.uuid4().hex[:8]}",
                         state="stripped", folder="INBOX", origtime=1795978545, duration=3, urgent=False,
                         caller_kind="external", envelope=b"", attempts=0, last_error="",
                         discovered_at=OLD, updated_at=OLD))
        s.flush()
        s.add(NotificationRow(id=notification_id, message_id=message_id, state=state, attempts=1,
                              last_error=last_error, recipient="", created_at=OLD, updated_at=OLD))
    return notification_id


@pytest.fixture
def worker_container(store: SqlMessageStore, tmp_path: Path) -> Iterator[SimpleNamespace]:
    """What workers.tasks needs of the container: the store, the settings and the notifier."""
    notifier = Notifier(store, OutboxMailer(tmp_path / "outbox"), MailSettings(sender="voicemail@example.org"),
                        NotifySettings("https://voicemail.example.org"))
    previous = runtime._container
    fake = SimpleNamespace(store=store, settings=Settings(), notifier=notifier)
    runtime.install(fake)  # type: ignore[arg-type]
    try:
        yield fake
    finally:
        runtime._container = previous


def test_a_mailbox_without_an_address_is_parked_once_and_not_retried(store: SqlMessageStore,
                                                                     worker_container: SimpleNamespace) -> None:
    notification_id = add_notification(store)  # mailbox 2001 has no owner row and no directory entry
    first = send_notification.apply(args=(notification_id,))
    again = send_notification.apply(args=(notification_id,))  # a duplicate delivery of the task
    assert first.failed() and "no e-mail address" in str(first.result)
    assert again.successful() and again.result == "already"
    letters = store.dead_letters()
    assert len(letters) == 1 and letters[0][1] == notification_id
    [row] = store.list_notifications(failed_only=True)
    assert (row.id, row.state, row.parked) == (notification_id, "failed", True)
    assert store.stuck(0) == []  # the sweeper does not pick it up again


def test_failed_list_has_failed_and_parked_notifications_only(store: SqlMessageStore) -> None:
    failed = add_notification(store, "failed", "2001", "PermanentError: EWS refused the message (ErrorX)")
    exhausted = add_notification(store, "sending", "2002")
    store.dead_letter("workers.tasks.send_notification", exhausted, "TransientError: EWS unavailable", 9)
    sent = add_notification(store, "sent", "2003")
    assert {n.id for n in store.list_notifications(failed_only=True)} == {failed, exhausted}
    assert {n.id for n in store.list_notifications()} == {failed, exhausted, sent}
    assert len(store.list_notifications(limit=1)) == 1


def test_requeue_resets_to_pending_and_resolves_the_dead_letter(store: SqlMessageStore) -> None:
    notification_id = add_notification(store, "failed")
    store.dead_letter("workers.tasks.send_notification", notification_id, "PermanentError: x", 1)
    assert store.requeue_notification(notification_id, due_now=True) == "failed"
    assert store.dead_letters() == []
    assert [w.id for w in store.stuck(60)] == [notification_id]  # the next sweep re-enqueues it
    assert store.claim_notification(notification_id) is not None  # and a worker may send it again


def test_requeue_with_a_broker_is_not_due_for_the_sweeper(store: SqlMessageStore) -> None:
    notification_id = add_notification(store, "failed")
    store.requeue_notification(notification_id, due_now=False)
    assert store.stuck(60) == []  # enqueued directly: the sweeper leaves it alone for stale_after


def test_requeue_refuses_a_sent_notification_and_an_unknown_id(store: SqlMessageStore) -> None:
    with pytest.raises(InvalidInput, match="sent already"):
        store.requeue_notification(add_notification(store, "sent"), due_now=True)
    with pytest.raises(InvalidInput, match="being sent"):
        store.requeue_notification(add_notification(store, "sending"), due_now=True)
    with pytest.raises(NotFound):
        store.requeue_notification("no-such-id", due_now=True)


def test_cli_lists_failed_notifications_with_their_error(store: SqlMessageStore, db_url: str) -> None:
    failed = add_notification(store, "failed", "2001", "PermanentError: Graph refused the message (403)")
    add_notification(store, "sent", "2002")
    result = CliRunner().invoke(main, ["notifications", "list", "--failed"], env={"VOICEMAIL_DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    assert failed in result.output and "2001@default" in result.output
    assert "Graph refused the message (403)" in result.output
    assert "2002@default" not in result.output
    assert "voicemail notifications retry ID" in result.output


def test_cli_retry_without_broker_hands_it_to_the_sweeper(store: SqlMessageStore, db_url: str) -> None:
    failed = add_notification(store, "failed")
    store.dead_letter("workers.tasks.send_notification", failed, "PermanentError: x", 1)
    env = {"VOICEMAIL_DATABASE_URL": db_url, "VOICEMAIL_BROKER_URL": ""}
    result = CliRunner().invoke(main, ["notifications", "retry", failed], env=env)
    assert result.exit_code == 0, result.output
    assert "pending again" in result.output and "next sweep" in result.output
    assert [n.state for n in store.list_notifications()] == ["pending"]
    assert store.dead_letters() == []


def test_cli_retry_of_an_unknown_or_sent_notification_is_one_line_and_exit_1(store: SqlMessageStore,
                                                                             db_url: str) -> None:
    env = {"VOICEMAIL_DATABASE_URL": db_url}
    for target in ("no-such-id", add_notification(store, "sent")):
        result = CliRunner().invoke(main, ["notifications", "retry", target], env=env)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 1 and len(lines) == 1 and "Traceback" not in result.output


@pytest.mark.parametrize("args", [["notifications"], ["notifications", "list"], ["notifications", "retry"]])
def test_notification_commands_have_help(args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
