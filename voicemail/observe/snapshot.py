"""The pipeline's figures, read from the database: what /metrics and the operations page show.

Every process (`voicemail run`, `voicemail web`, each worker) writes its progress to the database, so
figures computed from it at scrape time are the same whichever process is asked, and survive restarts.
Nothing here names a mailbox, a caller or a message: only states, task names and counts.

Cost: one ``GROUP BY state`` pass over messages and over notifications (the all-time counters) and a
sum over recordings (vault bytes) — linear in the rows, measured by bench/bench_metrics.py — plus small
indexed look-ups for pending work and a window of recent rows found through the ``updated_at`` indexes
(a row sealed or sent after a cut-off was also updated after it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection, Engine

from voicemail.audit.tables import audit_checkpoints
from voicemail.db.models import DeadLetterRow, MessageRow, NotificationRow, PendingMoveRow, RecordingRow
from voicemail.domain.records import DISCOVERED, SEALED

messages = cast(Table, MessageRow.__table__)
notifications = cast(Table, NotificationRow.__table__)
dead_letters = cast(Table, DeadLetterRow.__table__)
recordings = cast(Table, RecordingRow.__table__)
pending_moves = cast(Table, PendingMoveRow.__table__)

PENDING_CUSTODY = (DISCOVERED, SEALED)
PENDING_NOTIFY = ("pending", "sending")
NOTIFY_TASK = "workers.tasks.send_notification"


def utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Latencies:
    """Seconds of each recent message: discovered -> sealed, sealed -> notified, discovered -> notified."""

    seal: tuple[float, ...] = ()
    notify: tuple[float, ...] = ()
    total: tuple[float, ...] = ()


@dataclass(frozen=True)
class MessageFigures:
    """The figures of a set of messages: the whole installation's (a Snapshot), or one site's (each site's
    in ``Snapshot.sites``)."""

    messages_by_state: dict[str, int] = field(default_factory=dict)
    discovered_total: int = 0
    sealed_total: int = 0
    stripped_total: int = 0
    notifications_by_state: dict[str, int] = field(default_factory=dict)
    oldest_custody_seconds: float = 0.0  # 0 = nothing pending
    oldest_notify_seconds: float = 0.0
    window: Latencies = field(default_factory=Latencies)
    dead_letters_open: dict[str, int] = field(default_factory=dict)  # by task
    notifications_failed: int = 0  # failed, or parked and not resolved
    vault_bytes: int = 0
    pending_moves: int = 0  # folder moves decided on the phone that Asterisk has not confirmed yet
    pending_moves_failing: int = 0  # of those, the ones that failed at least once

    @property
    def custody_pending(self) -> int:
        return sum(self.messages_by_state.get(s, 0) for s in PENDING_CUSTODY)

    @property
    def notify_pending(self) -> int:
        return sum(self.notifications_by_state.get(s, 0) for s in PENDING_NOTIFY)


@dataclass(frozen=True, kw_only=True)
class Snapshot(MessageFigures):
    """The installation's figures, and what only the installation has: every dead letter ever parked
    (also those of no message), the last audit checkpoint, and (several sites) each site's figures."""

    taken_at: dt.datetime
    dead_letters_total: dict[str, int] = field(default_factory=dict)
    checkpoint_at: dt.datetime | None = None
    sites: dict[str, MessageFigures] = field(default_factory=dict)  # several sites: each site's figures

    @property
    def checkpoint_age(self) -> float | None:
        return None if self.checkpoint_at is None else max(0.0, (self.taken_at - self.checkpoint_at).total_seconds())


def read_snapshot(engine: Engine, *, now: dt.datetime, window: float, per_site: bool = False) -> Snapshot:
    """The figures; with ``per_site`` (several sites configured) also each site's (``sites``)."""
    from voicemail.observe.site_figures import read_site_figures

    cut = now - dt.timedelta(seconds=window)
    with engine.connect() as conn:
        by_state: dict[str, int] = {}
        totals = [0, 0, 0]
        for state, count, sealed, stripped in conn.execute(
                select(messages.c.state, func.count(), func.count(messages.c.sealed_at),
                       func.count(messages.c.stripped_at)).group_by(messages.c.state)):
            by_state[state] = int(count)
            totals = [totals[0] + int(count), totals[1] + int(sealed), totals[2] + int(stripped)]
        notes = {state: int(n) for state, n in conn.execute(
            select(notifications.c.state, func.count()).group_by(notifications.c.state))}
        open_letters, all_letters = _dead_letters(conn)
        return Snapshot(
            taken_at=now, messages_by_state=by_state, discovered_total=totals[0], sealed_total=totals[1],
            stripped_total=totals[2], notifications_by_state=notes,
            oldest_custody_seconds=_age(conn, messages.c.discovered_at, messages.c.state.in_(PENDING_CUSTODY), now),
            oldest_notify_seconds=_age(conn, notifications.c.created_at,
                                       notifications.c.state.in_(PENDING_NOTIFY), now),
            dead_letters_open=open_letters, dead_letters_total=all_letters,
            notifications_failed=notes.get("failed", 0) + _parked_notifications(conn), vault_bytes=_vault_bytes(conn),
            checkpoint_at=_last_checkpoint(conn), window=recent_latencies(conn, cut),
            sites=read_site_figures(conn, now, cut) if per_site else {}, **_pending_moves(conn))


def _pending_moves(conn: Connection) -> dict[str, int]:
    total, failing = conn.execute(select(func.count(), func.count().filter(pending_moves.c.attempts > 0))
                                  .select_from(pending_moves)).one()
    return {"pending_moves": int(total or 0), "pending_moves_failing": int(failing or 0)}


def _age(conn: Connection, column: Any, where: Any, now: dt.datetime) -> float:
    oldest = conn.execute(select(func.min(column)).where(where)).scalar()
    return max(0.0, (now - utc(oldest)).total_seconds()) if oldest is not None else 0.0


def _dead_letters(conn: Connection) -> tuple[dict[str, int], dict[str, int]]:
    open_: dict[str, int] = {}
    all_: dict[str, int] = {}
    for task, total, unresolved in conn.execute(
            select(dead_letters.c.task, func.count(), func.count().filter(dead_letters.c.resolved_at.is_(None)))
            .group_by(dead_letters.c.task)):
        all_[task] = int(total)
        open_[task] = int(unresolved)
    return open_, all_


def _parked_notifications(conn: Connection) -> int:
    """Notifications parked (an open dead letter) that are not in state failed: failed ones are counted
    by state already. Dead letters are few; each is a primary-key probe."""
    parked = select(dead_letters.c.ref_id).where(dead_letters.c.task == NOTIFY_TASK,
                                                 dead_letters.c.resolved_at.is_(None))
    query = select(func.count()).select_from(notifications).where(
        notifications.c.id.in_(parked), notifications.c.state.not_in(("sent", "failed")))
    return int(conn.execute(query).scalar_one())


def _vault_bytes(conn: Connection) -> int:
    """Plaintext bytes of every sealed recording still on record (a destroyed message's rows are deleted
    with its blobs; one being shredded still counts until its blobs are gone)."""
    return int(conn.execute(select(func.coalesce(func.sum(recordings.c.size), 0))).scalar_one())


def _last_checkpoint(conn: Connection) -> dt.datetime | None:
    at = conn.execute(select(audit_checkpoints.c.at).order_by(audit_checkpoints.c.id.desc()).limit(1)).scalar()
    if not at:
        return None
    try:
        return utc(dt.datetime.fromisoformat(str(at).replace("Z", "+00:00")))
    except ValueError:
        return None


def sent_since(conn: Connection, cut: dt.datetime) -> list[tuple[dt.datetime, dt.datetime | None, dt.datetime]]:
    """(discovered_at, sealed_at, sent_at) of each notification sent at or after ``cut``.

    Two range scans on the ``updated_at`` indexes joined here, not a probe of messages' primary key per
    notification; the few messages last updated before ``cut`` (notified late) are fetched by id."""
    m, n = messages.c, notifications.c
    sent = conn.execute(select(n.message_id, n.sent_at).where(n.updated_at >= cut, n.sent_at >= cut)).all()
    if not sent:
        return []
    times = {mid: (d, s) for mid, d, s in conn.execute(
        select(m.id, m.discovered_at, m.sealed_at).where(m.updated_at >= cut))}
    missing = [mid for mid, _ in sent if mid not in times]
    for start in range(0, len(missing), 500):
        times.update({mid: (d, s) for mid, d, s in conn.execute(
            select(m.id, m.discovered_at, m.sealed_at).where(m.id.in_(missing[start:start + 500])))})
    return [(utc(times[mid][0]), None if times[mid][1] is None else utc(times[mid][1]), utc(at))
            for mid, at in sent if mid in times]


def recent_latencies(conn: Connection, cut: dt.datetime) -> Latencies:
    """Latencies of the messages sealed, and of the notifications sent, at or after ``cut``."""
    m = messages.c
    seal = [(utc(s) - utc(d)).total_seconds() for d, s in conn.execute(
        select(m.discovered_at, m.sealed_at).where(m.updated_at >= cut, m.sealed_at >= cut))]
    notify: list[float] = []
    total: list[float] = []
    for discovered, sealed, sent in sent_since(conn, cut):
        if sealed is not None:
            notify.append((sent - sealed).total_seconds())
        total.append((sent - discovered).total_seconds())
    return Latencies(tuple(max(0.0, x) for x in seal), tuple(max(0.0, x) for x in notify),
                     tuple(max(0.0, x) for x in total))
