"""SqlBatchStore: the database side of batched custody and notification (one transaction for many rows).

The live pipeline's batch path (voicemail.services.custody_batch, voicemail.services.notify_batch) writes
exactly what the per-message SqlMessageStore writes, state for state and audit event for audit event, but
for a whole batch in one transaction per step: discovered, runs begun, sealed, stripped (with the runs
ended and the notification rows), notifications claimed and recorded. Every guard of the per-message path
holds per row: a run commits its seal only if its attempt token is still the newest, a notification is
sent only under its own fencing token.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from voicemail.audit.custody_trail import CustodyTrail
from voicemail.db.listener_lease import WriteFence
from voicemail.db.models import MessageRow, NotificationRow, RecordingRow, utcnow
from voicemail.db.repository import _to_record
from voicemail.domain.models import Caller, SealedRecording, SpoolMessage, WrappedKey
from voicemail.domain.records import DISCOVERED, SEALED, STRIPPED, CustodyRun, MessageRecord, NotificationWork
from voicemail.spool.envelope import parse_callerid

MESSAGES = cast(Table, MessageRow.__table__)  # Core updates with one parameter set per row (executemany)
NOTIFICATIONS = cast(Table, NotificationRow.__table__)
_DONE = ("sent", "failed", "skipped")  # notifications nobody sends again


@dataclass(frozen=True)
class BatchStart:
    """What ``begin_runs`` found: runs started (with each message as recorded), messages to take one by one
    (an earlier run of theirs never finished: a batch must not die again with a poison recording among
    them), messages whose custody is done (stripped: their notification ids) and ids with nothing to do."""

    runs: list[tuple[MessageRecord, CustodyRun]]
    isolate: list[str]
    done: dict[str, str]
    skipped: list[str]


@dataclass(frozen=True)
class SealedItem:
    message_id: str
    attempt: str
    wrapped: WrappedKey
    recordings: tuple[SealedRecording, ...]


class SqlBatchStore:
    def __init__(self, sessions: sessionmaker[Session], reads: sessionmaker[Session] | None = None,
                 trail: CustodyTrail | None = None, *, site: str = "", default_site: str = "default",
                 fence: WriteFence | None = None) -> None:
        """``site``: the Asterisk whose spool this store's batches come from (empty = ``default_site``), as
        for SqlMessageStore: a MailboxRef without a site names a mailbox of that site. ``fence``: the
        listener's lease, checked inside the transaction that records discovered messages (None: not a
        listener)."""
        self._fence = fence
        self._sessions = sessions
        self._reads = reads or sessions
        self._trail = trail or CustodyTrail()
        self._default_site = default_site
        self._site = site or default_site

    # --- discovery ---------------------------------------------------------------------------
    def record_discovered_many(self, items: Sequence[tuple[SpoolMessage, Caller, bytes]]) -> list[str] | None:
        """Insert a ``discovered`` row (and its ``custody.discovered`` event) for each message, in one
        transaction. None when one of them is on record already (another scan, a vanished message that
        is back): the caller then records them one by one, which handles every such case."""
        if not items:
            return []
        now = utcnow()
        rows: list[dict[str, object]] = []
        events = []
        for message, caller, envelope in items:
            env = message.envelope
            message_id = str(uuid.uuid4())
            site = message.mailbox.site or self._site
            rows.append({
                "id": message_id, "site": site, "context": message.mailbox.context, "mailbox": message.mailbox.mailbox,
                "msg_id": env.msg_id, "state": DISCOVERED, "folder": message.folder, "spool_number": message.number,
                "origtime": env.origtime, "duration": env.duration, "urgent": env.urgent,
                "caller_context": env.context[:80], "callerid_raw": env.callerid, "caller_kind": caller.kind.value,
                "caller_name": caller.name, "caller_number": caller.number, "envelope": envelope, "attempts": 0,
                "last_error": "", "deliveries": 0, "seal_attempt": "", "discovered_at": now, "updated_at": now,
                "caller_withheld": parse_callerid(env.callerid)[1] is None})
            events.append(self._trail.discovered_event(message_id, message.mailbox.on_site(site), env.msg_id,
                                                       message.folder))  # the audit trail names the site
        try:
            with self._sessions.begin() as s:
                conn = s.connection()
                conn.execute(insert(MessageRow), rows)
                # refused (ListenerLeaseLost, rolled back) unless the lease holds; checked before the audit
                # chain's head is locked, so the check never holds it
                if self._fence is not None:
                    self._fence(conn)
                self._trail.write_all(conn, events)
        except IntegrityError:
            return None
        return [str(r["id"]) for r in rows]

    # --- custody -----------------------------------------------------------------------------
    def begin_runs(self, message_ids: Sequence[str], more: int = 0) -> BatchStart:
        """Count a custody run of each message that awaits custody and whose last run finished, in one
        statement (the batch form of ``begin_custody``); the batch's runs share one fresh attempt token, so
        a run of another batch or task (with a token of its own) still overtakes each of them. ``more``: also
        start runs of up to that many other messages of the same mailboxes that wait for their custody task
        (discovered, no run counted, no retry scheduled): when the workers are behind, one batch takes what
        queued up behind it, and those messages' own tasks then find them done."""
        runs: list[tuple[MessageRecord, CustodyRun]] = []
        isolate: list[str] = []
        stripped: list[str] = []
        now = utcnow()
        attempt = uuid.uuid4().hex[:8]
        with self._sessions.begin() as s:
            rows = {r.id: r for r in s.scalars(select(MessageRow).where(MessageRow.id.in_(list(message_ids)))
                                               .with_for_update(of=MessageRow)).unique()}
            order = list(dict.fromkeys(message_ids))
            boxes = {(r.site, r.context, r.mailbox) for r in rows.values()}
            if more > 0 and boxes:
                extra = list(s.scalars(select(MessageRow.id).where(
                    tuple_(MessageRow.site, MessageRow.context, MessageRow.mailbox).in_(list(boxes)),
                    MessageRow.state == DISCOVERED,
                    MessageRow.deliveries == 0, MessageRow.retry_at.is_(None), MessageRow.id.not_in(order))
                    .order_by(MessageRow.discovered_at).limit(more).with_for_update(skip_locked=True)))
                if extra:
                    rows.update({r.id: r for r in s.scalars(select(MessageRow).where(MessageRow.id.in_(extra))
                                                            .with_for_update(of=MessageRow)).unique()})
                    order += extra
            for message_id in order:
                row = rows.get(message_id)
                if row is None:
                    continue
                if row.state == STRIPPED:
                    stripped.append(message_id)
                elif row.state not in (DISCOVERED, SEALED):
                    continue
                elif row.deliveries:
                    isolate.append(message_id)
                else:
                    runs.append((_to_record(row, self._default_site), CustodyRun(message_id, attempt, 1)))
            if runs:
                s.execute(update(MESSAGES).where(MESSAGES.c.id.in_([run.message_id for _, run in runs]))
                          .values(deliveries=1, seal_attempt=attempt, updated_at=now))
            done = self._notifications(s, stripped, now, unsent_only=True)
        started = {r.message_id for _, r in runs}
        skipped = [m for m in message_ids if m not in done and m not in isolate and m not in started
                   and m not in stripped]
        return BatchStart(runs, isolate, done, skipped)

    def end_runs(self, message_ids: Sequence[str], handed_back: Sequence[str] = ()) -> None:
        """The runs finished in this process (the batch form of ``end_custody``). ``handed_back``: messages
        now the per-message task's (no batch takes them along until it has run: ``retry_at`` set)."""
        if not message_ids and not handed_back:
            return
        with self._sessions.begin() as s:
            self._end(s, message_ids, handed_back)

    @staticmethod
    def _end(s: Session, ended: Sequence[str], handed_back: Sequence[str]) -> None:
        if ended:
            s.execute(update(MessageRow).where(MessageRow.id.in_(list(ended)), MessageRow.deliveries != 0)
                      .values(deliveries=0))
        if handed_back:
            s.execute(update(MessageRow).where(MessageRow.id.in_(list(handed_back)), MessageRow.retry_at.is_(None))
                      .values(retry_at=utcnow()))

    def touch_messages(self, message_ids: Sequence[str]) -> None:
        """Mark the messages as progressing (the sweeper leaves them alone for ``stale_after``)."""
        with self._sessions.begin() as s:
            s.execute(update(MessageRow).where(MessageRow.id.in_(list(message_ids))).values(updated_at=utcnow()))

    def commit_sealed(self, items: Sequence[SealedItem]) -> set[str]:
        """Record the sealed copies in one transaction; only a run whose attempt token is still the newest
        commits (as ``mark_sealed``). Returns the ids committed; the others' blobs are the caller's to delete."""
        if not items:
            return set()
        now = utcnow()
        by_id = {i.message_id: i for i in items}
        with self._sessions.begin() as s:
            conn = s.connection()
            won = [r.id for r in conn.execute(
                select(MessageRow.id, MessageRow.seal_attempt).where(
                    MessageRow.id.in_(list(by_id)), MessageRow.state == DISCOVERED).with_for_update())
                if r.seal_attempt and r.seal_attempt == by_id[r.id].attempt]
            if not won:
                return set()
            conn.execute(delete(RecordingRow).where(RecordingRow.message_id.in_(won)))
            conn.execute(insert(RecordingRow), [
                {"message_id": m, "fmt": r.fmt, "blob_name": r.blob_name, "sha256": r.sha256, "size": r.size}
                for m in won for r in by_id[m].recordings])
            conn.execute(update(MESSAGES).where(MESSAGES.c.id == bindparam("m_id")).values(
                kek_id=bindparam("m_kek"), wrapped_dek=bindparam("m_dek"), state=SEALED, sealed_at=now,
                updated_at=now, last_error="", retry_at=None),
                [{"m_id": m, "m_kek": by_id[m].wrapped.kek_id, "m_dek": by_id[m].wrapped.blob} for m in won])
            self._trail.write_all(conn, [self._trail.sealed_event(m, by_id[m].recordings, by_id[m].wrapped.kek_id)
                                         for m in won])
        return set(won)

    def commit_stripped(self, stripped: Sequence[str], ended: Sequence[str],
                        handed_back: Sequence[str] = ()) -> dict[str, str]:
        """Sealed -> stripped for ``stripped`` (one ``custody.stripped`` event each), a pending notification
        for each, and the runs of ``ended`` ended, in one transaction. Returns message id -> notification
        id for every stripped message (also those another worker stripped first)."""
        now = utcnow()
        with self._sessions.begin() as s:
            changed = list(s.scalars(update(MessageRow).where(MessageRow.id.in_(list(stripped)),
                                                              MessageRow.state == SEALED)
                                     .values(state=STRIPPED, stripped_at=now, updated_at=now)
                                     .returning(MessageRow.id))) if stripped else []
            self._end(s, ended, handed_back)
            ready = list(s.scalars(select(MessageRow.id).where(MessageRow.id.in_(list(stripped)),
                                                               MessageRow.state == STRIPPED))) if stripped else []
            notes = self._notifications(s, ready, now)
            # last: the audit chain's head stays locked only from here to the commit
            self._trail.write_all(s.connection(), [self._trail.stripped_event(m) for m in changed])
            return notes

    @staticmethod
    def _notifications(s: Session, message_ids: Sequence[str], now: dt.datetime,
                       unsent_only: bool = False) -> dict[str, str]:
        """message id -> notification id, creating the missing pending rows (as ``mark_stripped``);
        ``unsent_only``: leaving out the notifications that are done (sent, failed, not announced)."""
        if not message_ids:
            return {}
        rows = s.execute(select(NotificationRow.message_id, NotificationRow.id, NotificationRow.state)
                         .where(NotificationRow.message_id.in_(list(message_ids)))).all()
        found = {r.message_id: r.id for r in rows}
        finished = {r.message_id for r in rows if r.state in ("sent", "failed", "skipped")} if unsent_only else set()
        fresh = [{"id": str(uuid.uuid4()), "message_id": m, "state": "pending", "attempts": 0, "last_error": "",
                  "recipient": "", "created_at": now, "updated_at": now, "lease_token": 0}
                 for m in message_ids if m not in found]
        if fresh:
            s.connection().execute(insert(NotificationRow), fresh)
            found.update({str(f["message_id"]): str(f["id"]) for f in fresh})
        return {m: found[m] for m in message_ids if m not in finished}

    def records(self, message_ids: Sequence[str]) -> dict[str, MessageRecord]:
        with self._reads() as s:
            rows = s.scalars(select(MessageRow).where(MessageRow.id.in_(list(message_ids)))).unique()
            return {r.id: _to_record(r, self._default_site) for r in rows}

    # --- notifications -----------------------------------------------------------------------
    def claim_notifications(self, notification_ids: Sequence[str],
                            lease_seconds: float) -> tuple[list[NotificationWork], list[str]]:
        """Take the lease on each notification in one transaction (as ``claim_notification``): one UPDATE
        claims every notification that is not done and whose lease (if any) has ended, then one SELECT
        names those whose lease another worker holds. Returns the claimed ones (state "sending", a new
        fencing token each), in the order asked, and the busy ids; notifications already done are left
        out of both."""
        ids = list(dict.fromkeys(notification_ids))
        if not ids:
            return [], []
        now = utcnow()
        table = NOTIFICATIONS.c
        with self._sessions.begin() as s:
            conn = s.connection()
            rows = conn.execute(update(NOTIFICATIONS).where(
                table.id.in_(ids), table.state.not_in(_DONE),
                or_(table.state != "sending", table.lease_until.is_(None), table.lease_until <= now),
            ).values(state="sending", attempts=table.attempts + 1, updated_at=now, lease_token=table.lease_token + 1,
                     lease_until=now + dt.timedelta(seconds=lease_seconds))
                .returning(table.id, table.message_id, table.attempts, table.lease_token)).all()
            won = {r.id: NotificationWork(r.id, r.message_id, "sending", r.attempts, r.lease_token) for r in rows}
            held = set(conn.scalars(select(table.id).where(
                table.id.in_([i for i in ids if i not in won]), table.state == "sending",
                table.lease_until > now))) if len(won) < len(ids) else set()
        return [won[i] for i in ids if i in won], [i for i in ids if i in held]

    def renew_leases(self, tokens: dict[str, int], lease_seconds: float) -> set[str]:
        """Extend each lease whose token is still the newest, in one statement; returns the ids renewed."""
        if not tokens:
            return set()
        with self._sessions.begin() as s:
            return set(s.scalars(update(NotificationRow).where(
                tuple_(NotificationRow.id, NotificationRow.lease_token).in_(list(tokens.items())),
                NotificationRow.state == "sending",
            ).values(lease_until=utcnow() + dt.timedelta(seconds=lease_seconds)).returning(NotificationRow.id)))

    def release_leases(self, tokens: dict[str, int]) -> None:
        """End our leases now (the attempts failed or were not made): a retry may claim them at once."""
        if not tokens:
            return
        with self._sessions.begin() as s:
            s.execute(update(NotificationRow).where(
                tuple_(NotificationRow.id, NotificationRow.lease_token).in_(list(tokens.items())),
                NotificationRow.state == "sending").values(lease_until=utcnow()))

    def mark_sent(self, sent: Sequence[tuple[str, str, int]]) -> list[str]:
        """Record the sends (notification id, recipient, token) in one transaction, one ``custody.notified``
        event each (as ``mark_notification_sent``). Returns the ids whose token was no longer the newest
        (another worker took over during the send: a second copy is possible)."""
        if not sent:
            return []
        now = utcnow()
        by_id = {n: (recipient, token) for n, recipient, token in sent}
        with self._sessions.begin() as s:
            conn = s.connection()
            rows = conn.execute(select(NotificationRow.id, NotificationRow.message_id, NotificationRow.state,
                                       NotificationRow.lease_token)
                                .where(NotificationRow.id.in_(list(by_id))).with_for_update()).all()
            lost = [r.id for r in rows if r.lease_token != by_id[r.id][1]]
            fresh = [r for r in rows if r.state != "sent"]
            to: dict[str, list[str]] = {}  # recipient -> notification ids: one statement per recipient
            for r in fresh:
                to.setdefault(by_id[r.id][0][:320], []).append(r.id)
            for recipient, ids in to.items():
                conn.execute(update(NOTIFICATIONS).where(NOTIFICATIONS.c.id.in_(ids)).values(
                    state="sent", sent_at=now, recipient=recipient, last_error="", updated_at=now, lease_until=None))
            done = [r.id for r in rows if r.state == "sent"]
            if done:
                conn.execute(update(NotificationRow).where(NotificationRow.id.in_(done))
                             .values(updated_at=now, lease_until=None))
            self._trail.write_all(conn, [self._trail.notified_event(r.message_id, r.id, by_id[r.id][0])
                                         for r in fresh])
        return lost
