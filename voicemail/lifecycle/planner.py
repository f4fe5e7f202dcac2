"""What retention would destroy now (and soon), read-only: the plan behind `retention plan` and `run`.

Messages (crypto-shredded one by one through the Shredder):

* ``messages.new``     — in a new folder (INBOX, Urgent), not deleted, left before now - period
* ``messages.old``     — in any other folder, not deleted, left before now - period
* ``messages.deleted`` — deleted by the owner under a hold (``hidden_at``), deleted before now - period

Rows in custody (``discovered``: still only in Asterisk's spool) are never due; rows already
``destroyed`` are gone; a row left ``shredding`` by an interrupted shred is always due (its key is
gone already, the rest must follow). Messages covered by an active legal hold are counted, not due.

Other records (deleted as rows): CDRs (which also feed call history: a CDR is kept for the longer of
the two periods), sent / failed notifications, evidence and CDR release requests; audit events are
sealed by a signed epoch checkpoint and removed (``AuditLog.seal_epoch``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, case, or_, select, tuple_
from sqlalchemy.engine import Engine

from voicemail.audit.holds import Holds
from voicemail.db.models import MessageRow, NotificationRow
from voicemail.domain.models import NEW_FOLDERS, Caller, MailboxRef
from voicemail.domain.records import DESTROYED, DISCOVERED, SHREDDING, MessageRecord
from voicemail.lifecycle.policy import (
    CALL_HISTORY,
    CDRS,
    DAY,
    EVIDENCE,
    MESSAGES_DELETED,
    MESSAGES_NEW,
    MESSAGES_OLD,
    NOTIFICATIONS,
    RecordClass,
    RetentionPolicy,
)

messages = cast(Table, MessageRow.__table__)
MESSAGE_CLASSES = (MESSAGES_NEW, MESSAGES_OLD, MESSAGES_DELETED)
notifications = cast(Table, NotificationRow.__table__)


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class DueMessage:
    id: str
    record_class: str
    mailbox: MailboxRef
    due_at: float  # epoch seconds
    kek_id: str | None
    wrapped_key_sha256: str | None


@dataclass
class ClassPlan:
    record_class: str
    period_days: int
    cutoff: str  # ISO UTC
    due: list[DueMessage] = field(default_factory=list)
    held: list[DueMessage] = field(default_factory=list)  # skipped: counted, never listed in a record


@dataclass
class ClassSummary:
    """What `retention plan` shows of one class: counts and the next due date, no message list."""

    record_class: str
    period_days: int
    cutoff: str  # ISO UTC
    due_now: int = 0
    due_later: int = 0  # within the window asked for
    held: int = 0
    next_due: float | None = None  # epoch seconds of the first message due after now


def _age_column(rc: RecordClass) -> ColumnElement[Any]:
    return messages.c.hidden_at if rc is MESSAGES_DELETED else messages.c.origtime


class Planner:
    def __init__(self, engine: Engine, holds: Holds, policy: RetentionPolicy,
                 now: Callable[[], float], default_site: str = "default", *, batch: int = 5000) -> None:
        """``default_site``: the site whose mailboxes are named without one (site_name)."""
        self.default_site = default_site
        self.engine = self._engine = engine
        self._batch = batch
        self._holds = holds
        self.policy = policy
        self.now = now

    def _class_filter(self, rc: RecordClass) -> ColumnElement[bool]:
        if rc is MESSAGES_DELETED:
            return messages.c.hidden_at.is_not(None)
        folder = messages.c.folder.in_(NEW_FOLDERS) if rc is MESSAGES_NEW else messages.c.folder.not_in(NEW_FOLDERS)
        return and_(messages.c.hidden_at.is_(None), folder)

    def _cutoff(self, rc: RecordClass, at: float) -> dt.datetime | int:
        """The age (the column's value) at which a message of ``rc`` is due at ``at``; origtime in whole
        seconds (a whole number is <= or > the cutoff as it is <= or > the cutoff's whole seconds)."""
        cutoff = at - self.policy.period(rc)
        return dt.datetime.fromtimestamp(cutoff, dt.UTC) if rc is MESSAGES_DELETED else int(cutoff)

    def _due_filter(self, rc: RecordClass, until: float) -> ColumnElement[bool]:
        return or_(_age_column(rc) <= self._cutoff(rc, until), messages.c.state == SHREDDING)

    def _not_due_filter(self, rc: RecordClass, now: float) -> ColumnElement[bool]:
        """Not due yet at ``now`` by its age (whether left ``shredding`` or not)."""
        return _age_column(rc) > self._cutoff(rc, now)

    def _columns(self) -> tuple[Any, ...]:
        return (messages.c.id, messages.c.site, messages.c.context, messages.c.mailbox, messages.c.msg_id,
                messages.c.state, messages.c.folder, messages.c.origtime, messages.c.hidden_at, messages.c.kek_id,
                messages.c.wrapped_dek)

    def _candidates(self, rc: RecordClass, until: float) -> Any:
        return select(*self._columns()).where(
            self._class_filter(rc), self._due_filter(rc, until),
            messages.c.state.not_in((DISCOVERED, DESTROYED)))

    def _rows(self, rc: RecordClass, until: float, batch: int | None = None) -> Iterator[list[Any]]:
        """The candidates in batches of ``batch`` (default: the planner's), keyset-paginated on the primary key."""
        return self._keyset_pages(self._candidates(rc, until), (messages.c.id,), batch)

    def _keyset_pages(self, query: Any, key: tuple[Any, ...], batch: int | None = None) -> Iterator[list[Any]]:
        """The rows of ``query`` in batches of ``batch`` (default: the planner's), keyset-paginated on ``key``
        (columns of the query that are unique together; one short read each, the connection returned before
        the batch is handed on)."""
        after: tuple[Any, ...] | None = None
        while True:
            page = query
            if after is not None:
                page = page.where(key[0] > after[0] if len(key) == 1 else tuple_(*key) > tuple_(*after))
            with self._engine.connect() as conn:
                rows = list(conn.execute(page.order_by(*key).limit(batch or self._batch)).all())
            if not rows:
                return
            after = tuple(rows[-1]._mapping[column] for column in key)
            yield rows

    def _rows_by_due_date(self, rc: RecordClass, until: float) -> Iterator[list[Any]]:
        """The candidates oldest first (due-date order), one query streamed in batches of ``batch``
        (a server-side cursor on PostgreSQL): the database sorts, this process holds one batch."""
        query = self._candidates(rc, until).order_by(_age_column(rc), messages.c.id)
        with self._engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=self._batch).execute(query)
            for rows in result.partitions():
                yield list(rows)

    def _classified(self, rc: RecordClass, batches: Iterator[list[Any]]) -> Iterator[tuple[DueMessage, bool]]:
        """(message, may be destroyed) per candidate, in the batches' order; held ones come with False."""
        for rows in batches:
            records = {}
            due: dict[str, DueMessage] = {}
            for row in rows:
                mid = str(row.id)
                ref = MailboxRef(row.context, row.mailbox, "" if row.site == self.default_site else row.site)
                records[mid] = MessageRecord(
                    id=mid, mailbox=ref, msg_id=row.msg_id, state=row.state, folder=row.folder,
                    origtime=int(row.origtime), duration=0, urgent=False, caller=Caller.external(),
                    wrapped_key=None, recordings=())
                wrapped = row.wrapped_dek
                kek = sys.intern(row.kek_id) if row.kek_id else None  # a few KEKs: one string each, not one a row
                due[mid] = DueMessage(mid, rc.name, ref, self._due_at(rc, row), kek,
                                      hashlib.sha256(bytes(wrapped)).hexdigest() if wrapped else None)
            free = {m.id for m in self._holds.unheld(records.values())}
            for mid, item in due.items():
                yield item, mid in free or records[mid].state == SHREDDING

    def _due_at(self, rc: RecordClass, row: Any) -> float:
        if rc is MESSAGES_DELETED:
            hidden: dt.datetime = row.hidden_at
            if hidden.tzinfo is None:
                hidden = hidden.replace(tzinfo=dt.UTC)
            return hidden.timestamp() + self.policy.period(rc)
        return float(row.origtime) + self.policy.period(rc)

    def messages(self, rc: RecordClass, *, within_days: int = 0) -> ClassPlan:
        """Messages of ``rc`` due now (or within ``within_days``), held ones set apart: the whole list, for
        a run (its destruction record names every message). ``summary`` and ``due_by_date`` do not hold it."""
        now = self.now()
        plan = ClassPlan(rc.name, self.policy.days[rc.name], iso(now - self.policy.period(rc)))
        for item, destroyable in self._classified(rc, self._rows(rc, now + within_days * DAY)):
            (plan.due if destroyable else plan.held).append(item)
        plan.due.sort(key=lambda d: (d.due_at, d.id))
        return plan

    def due_pages(self, rc: RecordClass, now: float, *,
                  batch: int | None = None) -> Iterator[list[tuple[DueMessage, bool]]]:
        """The messages of ``rc`` due at ``now``, one page at a time in message-id order, each with whether it
        may be destroyed (False: held). Each page is read (and its holds checked) only when the previous one
        has been consumed, so a run holds one page: a message is in exactly one page, and what the run did
        to the earlier pages is not read again."""
        for rows in self._rows(rc, now, batch):
            yield list(self._classified(rc, iter((rows,))))

    def summary(self, rc: RecordClass, *, within_days: int = 0) -> ClassSummary:
        """How many messages of ``rc`` are due now, due within ``within_days``, and held; read batch by batch,
        in memory that does not grow with the number of messages."""
        now = self.now()
        out = ClassSummary(rc.name, self.policy.days[rc.name], iso(now - self.policy.period(rc)))
        for item, destroyable in self._classified(rc, self._rows(rc, now + within_days * DAY)):
            if not destroyable:
                out.held += 1
            elif item.due_at <= now:
                out.due_now += 1
            else:
                out.due_later += 1
                out.next_due = item.due_at if out.next_due is None else min(out.next_due, item.due_at)
        return out

    def due_by_date(self, rc: RecordClass, *, within_days: int = 0) -> Iterator[DueMessage]:
        """The messages of ``rc`` that may be destroyed by then (held ones left out), the earliest due first,
        streamed."""
        now = self.now()
        for item, destroyable in self._classified(rc, self._rows_by_due_date(rc, now + within_days * DAY)):
            if destroyable:
                yield item

    def soon_pages(self, *, within_days: int, unless: Any = None,
                   batch: int | None = None) -> Iterator[list[DueMessage]]:
        """The messages of every class not due now that will be within ``within_days``, held ones too (holds
        are not read), one page at a time in mailbox order (site, context, mailbox, then Asterisk's msg_id):
        a mailbox's messages come one after the other, over as many pages as they fill. ``unless``: a
        condition on ``messages`` that leaves a row out. Each page is read only when the previous one has
        been consumed, after the rows already handed on (keyset), so a caller may record what it did to
        them meanwhile. The ``DueMessage`` carry no key (``kek_id`` and its hash None)."""
        now = self.now()
        until = now + within_days * DAY
        key = (messages.c.site, messages.c.context, messages.c.mailbox, messages.c.msg_id)
        soon = [and_(self._class_filter(rc), self._due_filter(rc, until), self._not_due_filter(rc, now))
                for rc in MESSAGE_CLASSES]
        record_class = case(*((self._class_filter(rc), rc.name) for rc in MESSAGE_CLASSES))
        query = select(messages.c.id, *key, messages.c.origtime, messages.c.hidden_at,
                       record_class.label("record_class")).where(
            or_(*soon), messages.c.state.not_in((DISCOVERED, DESTROYED)))
        classes = {rc.name: rc for rc in MESSAGE_CLASSES}
        for rows in self._keyset_pages(query if unless is None else query.where(unless), key, batch):
            yield [DueMessage(str(row.id), row.record_class,
                              MailboxRef(row.context, row.mailbox, "" if row.site == self.default_site else row.site),
                              self._due_at(classes[row.record_class], row), None, None) for row in rows]

    def message_plans(self, *, within_days: int = 0) -> list[ClassPlan]:
        return [self.messages(rc, within_days=within_days) for rc in MESSAGE_CLASSES]

    # --- the other record classes: (class, period days, cutoff ISO) ---------------------------
    def cdr_days(self) -> int:
        return max(self.policy.days[CDRS.name], self.policy.days[CALL_HISTORY.name])

    def cutoffs(self) -> dict[str, tuple[int, str]]:
        now = self.now()
        out = {CDRS.name: (self.cdr_days(), iso(now - self.cdr_days() * DAY))}
        for rc in (NOTIFICATIONS, EVIDENCE):
            out[rc.name] = (self.policy.days[rc.name], iso(now - self.policy.period(rc)))
        return out
