"""The sweeper re-enqueues stuck work in batches (PostgreSQL, the real adapters, the tasks run in this
process): a backlog of stuck messages goes out as a handful of ``take_custody_batch`` tasks on their site's
queue, stuck notifications as ``send_notifications`` tasks, every item touched in one transaction; and
all of it is then taken into custody and notified."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.integration.pipeline.harness import make_wav
from tests.spool_envelopes import trunk_envelope
from voicemail.app import build_container
from voicemail.config import load_settings
from voicemail.container import Container
from voicemail.db.models import MessageRow, NotificationRow
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import DISCOVERED, STRIPPED, MailboxOwner
from voicemail.spool import is_placeholder_bytes
from voicemail.vault import FileKeyring
from workers import runtime, tasks

pytestmark = [pytest.mark.postgres]
BOXES = (MailboxRef("default", "1001"), MailboxRef("default", "2001"))
LONG_AGO = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Sent:
    """The tasks the code under test sent (instead of a broker): name -> [(args, kwargs)]."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {}
        for task in (tasks.take_custody_batch, tasks.send_notifications, tasks.seal_message, tasks.strip_message,
                     tasks.send_notification):
            name = task.name.rsplit(".", 1)[-1]
            monkeypatch.setattr(task, "apply_async", self._recorder(name))
            monkeypatch.setattr(task, "delay", self._delay(name))

    def _recorder(self, name: str) -> Any:
        def apply_async(args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, **_: Any) -> None:
            self.calls.setdefault(name, []).append((tuple(args), dict(kwargs or {})))
        return apply_async

    def _delay(self, name: str) -> Any:
        def delay(*args: Any, **kwargs: Any) -> None:
            self.calls.setdefault(name, []).append((args, kwargs))
        return delay

    def take(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return self.calls.pop(name, [])


class Site:
    def __init__(self, root: Path, database_url: str, batch_size: int) -> None:
        self.root = root
        FileKeyring.create(root / "keyring.json")
        env = {"VOICEMAIL_SPOOL_DIR": str(root / "spool"), "VOICEMAIL_DATABASE_URL": database_url,
               "VOICEMAIL_VAULT_DIR": str(root / "vault"), "VOICEMAIL_KEYRING": str(root / "keyring.json"),
               "VOICEMAIL_OUTBOX_DIR": str(root / "outbox"), "VOICEMAIL_MAIL_SENDER": "vm@example.test",
               "VOICEMAIL_CUSTODY_BATCH_SIZE": str(batch_size), "VOICEMAIL_SPOOL_GRACE_SECONDS": "0",
               "VOICEMAIL_STALE_AFTER": "60"}
        self.lost: list[list[str]] = []  # the hand-overs of the discovery pass: never delivered
        self.c: Container = build_container(load_settings(environ=env), on_new=lambda _m: None,
                                            on_new_batch=self.lost.append)
        for box in BOXES:
            self.c.store.upsert_mailbox(MailboxOwner(box, f"Owner {box.mailbox}", f"u{box.mailbox}@example.test"))

    def leave(self, count: int) -> None:
        """``count`` messages, spread over the mailboxes, then one discovery pass whose tasks are lost."""
        for n in range(count):
            box = BOXES[n % len(BOXES)]
            inbox = self.root / "spool" / box.context / box.mailbox / "INBOX"
            inbox.mkdir(parents=True, exist_ok=True)
            number = n // len(BOXES)
            (inbox / f"msg{number:04d}.txt").write_text(trunk_envelope(box.mailbox, n, 1796400000 + n))
            (inbox / f"msg{number:04d}.wav").write_bytes(make_wav(0.05, seed=n))
        assert self.c.discovery.reconcile().new == count

    def age(self) -> None:
        """Nothing has moved for long: every row is older than stale_after."""
        with self.c.engine.begin() as conn:
            conn.execute(update(MessageRow).values(updated_at=LONG_AGO))
            conn.execute(update(NotificationRow).values(updated_at=LONG_AGO))

    def states(self) -> dict[str, int]:
        return {k: v for k, v in self.c.store.summary().items() if v}

    def plaintext_left(self) -> list[Path]:
        return [p for p in (self.root / "spool").rglob("*.wav") if not is_placeholder_bytes("wav", p.read_bytes())]


@pytest.fixture
def site(tmp_path: Path, pg_url: str, request: pytest.FixtureRequest,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    s = Site(tmp_path, pg_url, getattr(request, "param", 50))
    monkeypatch.setattr(runtime, "_container", s.c)  # the tasks run in this process, on this container
    yield s
    s.c.close()


def test_a_backlog_of_500_stuck_messages_goes_out_as_ten_batch_tasks_and_every_message_is_taken_and_notified(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = Sent(monkeypatch)
    site.leave(500)
    site.age()
    assert tasks.sweep_once() == 500
    batches = sent.take("take_custody_batch")
    assert len(batches) == 10 and all(len(args[0]) == 50 and kwargs == {"site": "default"} for args, kwargs in batches)
    assert sorted(m for args, _ in batches for m in args[0]) == sorted(m for lost in site.lost for m in lost)
    assert sent.calls == {}  # nothing went to the per-message tasks
    assert tasks.sweep_once() == 0  # all of them marked fresh: the next sweep leaves them alone
    for args, kwargs in batches:
        assert tasks.take_custody_batch(*args, **kwargs)["stripped"] == 50
    assert site.states() == {"messages.stripped": 500, "notifications.pending": 500}
    assert site.plaintext_left() == []
    assert len(sent.take("send_notifications")) == 10
    assert sent.calls == {}
    # the notification tasks were lost too: the sweeper sends them out again in batches
    site.age()
    assert tasks.sweep_once() == 500
    notes = sent.take("send_notifications")
    assert len(notes) == 10 and all(len(args[0]) == 50 for args, _ in notes)
    for args, kwargs in notes:
        assert tasks.send_notifications(*args, **kwargs)["sent"] == 50
    assert site.states() == {"messages.stripped": 500, "notifications.sent": 500}
    assert len(list((site.root / "outbox").glob("*.eml"))) == 500
    assert sent.calls == {}


@pytest.mark.parametrize("site", [4], indirect=True)
def test_stuck_messages_go_to_their_own_site_queue_and_without_a_broker_only_this_sites_are_swept(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = Sent(monkeypatch)
    site.leave(7)
    branch = [m for lost in site.lost for m in lost][:3]
    with site.c.engine.begin() as conn:  # three of them lie in another site's spool
        conn.execute(update(MessageRow).where(MessageRow.id.in_(branch)).values(site="branch"))
    site.age()
    assert not site.c.settings.broker_url  # the embedded transport: this process reaches only its own spool
    assert tasks.sweep_once() == 4
    assert [(len(args[0]), kwargs) for args, kwargs in sent.take("take_custody_batch")] == [(4, {"site": "default"})]
    with site.c.engine.connect() as conn:  # the other site's messages were not touched either
        touched = conn.scalars(select(MessageRow.updated_at).where(MessageRow.id.in_(branch))).all()
        assert [t.astimezone(dt.UTC) for t in touched] == [LONG_AGO] * 3
    site.age()
    site.c.settings = dataclasses.replace(site.c.settings, broker_url="redis://127.0.0.1:6379/0")
    assert tasks.sweep_once() == 7
    out = sorted(((len(args[0]), kwargs["site"]) for args, kwargs in sent.take("take_custody_batch")),
                 key=lambda t: t[1])
    assert out == [(3, "branch"), (4, "default")]
    assert sent.calls == {}
    assert {site.c.store.get(m).state for lost in site.lost for m in lost} == {DISCOVERED}
    assert STRIPPED not in site.states()
