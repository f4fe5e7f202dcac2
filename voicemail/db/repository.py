"""SqlMessageStore: the MessageStore port on SQLAlchemy. One short transaction per call.

Each custody step that changes a message's state (discovered, sealed, stripped, notified) writes its
audit event (voicemail.audit.custody_trail) in that same transaction, and only when the state changed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from voicemail.audit.custody_trail import CustodyTrail
from voicemail.db.listener_lease import WriteFence
from voicemail.db.models import DeadLetterRow, MailboxRow, MessageRow, NotificationRow, RecordingRow, utcnow
from voicemail.domain.errors import CrashLoop, InvalidInput, NotFound
from voicemail.domain.models import (
    Caller,
    CallerKind,
    MailboxRef,
    SealedRecording,
    SpoolMessage,
    WrappedKey,
)
from voicemail.domain.records import (
    DISCOVERED,
    SEALED,
    STRIPPED,
    VANISHED,
    CustodyRun,
    MailboxOwner,
    MessageRecord,
    NotificationWork,
    StuckWork,
)

MAX_ERROR = 2000
# A re-queued notification gets this updated_at, so the next sweep (embedded mode) picks it up at once.
_LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class NotificationSummary:
    """One notification as an administrator sees it (no caller data: the error texts never carry any)."""

    id: str
    message_id: str
    mailbox: str
    state: str
    attempts: int
    recipient: str
    last_error: str
    created_at: dt.datetime
    updated_at: dt.datetime
    parked: bool  # an unresolved dead letter exists
    parked_error: str


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _to_record(row: MessageRow, default_site: str = "default") -> MessageRecord:
    caller = (Caller(CallerKind.INTERNAL, row.caller_name, row.caller_number)
              if row.caller_kind == CallerKind.INTERNAL.value else Caller.external())
    wrapped = WrappedKey(row.kek_id, row.wrapped_dek) if row.kek_id and row.wrapped_dek else None
    recs = tuple(SealedRecording(r.fmt, r.blob_name, r.sha256, r.size)
                 for r in sorted(row.recordings, key=lambda r: r.fmt))
    return MessageRecord(
        id=row.id, mailbox=MailboxRef(row.context, row.mailbox, "" if row.site == default_site else row.site),
        msg_id=row.msg_id, state=row.state,
        folder=row.folder, origtime=row.origtime, duration=row.duration, urgent=row.urgent,
        caller=caller, wrapped_key=wrapped, recordings=recs, attempts=row.attempts,
        number=row.spool_number)


class SqlMessageStore:
    """``sessions`` for transactions; reads run on an autocommit connection (one round trip per query,
    no BEGIN / ROLLBACK), which is what keeps the pipeline's many small lookups cheap on PostgreSQL."""

    def __init__(self, sessions: sessionmaker[Session], reads: sessionmaker[Session] | None = None,
                 trail: CustodyTrail | None = None, *, site: str = "", default_site: str = "default",
                 fence: WriteFence | None = None) -> None:
        """``site``: the Asterisk whose spool and AMI events this store records (empty = ``default_site``).
        A MailboxRef without a site names a mailbox of that site; the records it hands back name the site
        of their mailbox, empty for ``default_site`` (site_name). ``fence``: the listener's lease, checked
        inside the transactions of what the listener writes (discovered messages, mailbox owners); None in
        every process that is not a listener."""
        self._fence = fence
        self._sessions = sessions
        self._reads = reads or sessions
        self._trail = trail or CustodyTrail()
        self._default_site = default_site
        self._site = site or default_site

    @property
    def default_site(self) -> str:
        """The name of the default site (a record's MailboxRef without a site is on it)."""
        return self._default_site

    def _site_of(self, mailbox: MailboxRef) -> str:
        return mailbox.site or self._site

    def _fenced(self, s: Session) -> None:
        """Last step of a listener's write: refused (ListenerLeaseLost, rolled back) unless its lease holds."""
        if self._fence is not None:
            self._fence(s.connection())

    def _record(self, row: MessageRow) -> MessageRecord:
        return _to_record(row, self._default_site)

    # --- discovery ---------------------------------------------------------------------------
    def record_discovered(self, message: SpoolMessage, caller: Caller, envelope: bytes) -> tuple[str, bool]:
        env = message.envelope
        here = message.mailbox.on_site(self._site_of(message.mailbox))  # the audit trail names the site
        existing = self.find(message.mailbox, env.msg_id)
        if existing is not None and existing.state == VANISHED:
            # It was missed once (e.g. mid-renumbering) and is back: custody starts again.
            with self._sessions.begin() as s:
                revived = s.execute(update(MessageRow).where(MessageRow.id == existing.id,
                                                             MessageRow.state == VANISHED)
                                    .values(state=DISCOVERED, updated_at=utcnow()).returning(MessageRow.id)).first()
                self._fenced(s)  # before the audit chain's head is locked, so the check never holds it
                if revived is not None:
                    self._trail.discovered(s.connection(), existing.id, here, env.msg_id, message.folder,
                                           again=True)
            return existing.id, True
        if existing is not None:
            return existing.id, False
        row = MessageRow(
            id=str(uuid.uuid4()), site=self._site_of(message.mailbox), context=message.mailbox.context,
            mailbox=message.mailbox.mailbox,
            msg_id=env.msg_id, state=DISCOVERED, folder=message.folder, spool_number=message.number,
            origtime=env.origtime,
            duration=env.duration, urgent=env.urgent, caller_context=env.context[:80],
            callerid_raw=env.callerid, caller_kind=caller.kind.value, caller_name=caller.name,
            caller_number=caller.number, envelope=envelope, attempts=0, last_error="",
            discovered_at=utcnow(), updated_at=utcnow())
        try:
            with self._sessions.begin() as s:
                s.add(row)
                s.flush()
                self._fenced(s)  # before the audit chain's head is locked, so the check never holds it
                self._trail.discovered(s.connection(), row.id, here, env.msg_id, message.folder)
        except IntegrityError:  # another listener/reconciler inserted it first
            again = self.find(message.mailbox, env.msg_id)
            if again is None:
                raise
            return again.id, False
        return row.id, True

    def known_msg_ids(self, mailbox: MailboxRef) -> set[str]:
        with self._reads() as s:
            rows = s.scalars(select(MessageRow.msg_id).where(
                MessageRow.site == self._site_of(mailbox), MessageRow.context == mailbox.context,
                MessageRow.mailbox == mailbox.mailbox, MessageRow.state != VANISHED))
            return set(rows)

    def sealed_sha256s(self, mailbox: MailboxRef) -> set[str]:
        with self._reads() as s:
            rows = s.scalars(select(RecordingRow.sha256).join(MessageRow, RecordingRow.message_id == MessageRow.id)
                             .where(MessageRow.site == self._site_of(mailbox), MessageRow.context == mailbox.context,
                                    MessageRow.mailbox == mailbox.mailbox))
            return set(rows)

    def get(self, message_id: str) -> MessageRecord:
        with self._reads() as s:
            row = s.get(MessageRow, message_id)
            if row is None:
                raise NotFound(f"no message {message_id}")
            return self._record(row)

    def find(self, mailbox: MailboxRef, msg_id: str) -> MessageRecord | None:
        with self._reads() as s:
            row = s.scalars(select(MessageRow).where(
                MessageRow.site == self._site_of(mailbox), MessageRow.context == mailbox.context,
                MessageRow.mailbox == mailbox.mailbox, MessageRow.msg_id == msg_id)).unique().first()
            return self._record(row) if row else None

    def message_of_notification(self, notification_id: str) -> str | None:
        """The id of the message a notification e-mail (its X-Voicemail-Id) was sent for, or None."""
        with self._reads() as s:
            found = s.scalar(select(NotificationRow.message_id).where(NotificationRow.id == notification_id))
            return str(found) if found is not None else None

    # --- custody -----------------------------------------------------------------------------
    def begin_custody(self, message_id: str, max_unfinished: int) -> CustodyRun:
        """Count a custody run in the database before its work starts, and give it a fresh attempt token.

        ``deliveries`` counts runs started since the last one that finished cleanly (``end_custody``): a
        run that killed its worker (a codec crash, the out-of-memory killer) is never ended, so it stays
        counted. When ``max_unfinished`` runs in a row died, raises CrashLoop instead of starting another.
        """
        with self._sessions.begin() as s:
            row = s.get(MessageRow, message_id, with_for_update={"of": MessageRow})
            if row is None:
                raise NotFound(f"no message {message_id}")
            if row.deliveries >= max_unfinished:
                crashed = (f"{row.deliveries} custody run(s) in a row ended without finishing (the worker "
                           "died during the work: a crash or the out-of-memory killer)")
                row.last_error, row.updated_at = f"CrashLoop: {crashed}", utcnow()
            else:
                crashed = ""
                attempt = uuid.uuid4().hex[:8]
                row.deliveries, row.seal_attempt = row.deliveries + 1, attempt
                if row.deliveries > 1:  # the previous run never finished: count it as a failed attempt
                    row.attempts = row.attempts + 1
                row.updated_at = utcnow()
                run = CustodyRun(message_id, attempt, row.deliveries)
        if crashed:
            raise CrashLoop(crashed)
        return run

    def end_custody(self, message_id: str) -> None:
        """The run finished in its own hands (done, or failed with an error it reported)."""
        with self._sessions.begin() as s:
            s.execute(update(MessageRow).where(MessageRow.id == message_id, MessageRow.deliveries != 0)
                      .values(deliveries=0))

    def mark_sealed(self, message_id: str, wrapped: WrappedKey, recordings: list[SealedRecording],
                    attempt: str | None = None) -> bool:
        """Commit the sealed copy. ``attempt``: only the newest custody run may commit (a run overtaken by
        a re-delivery gets False and removes its own blobs)."""
        with self._sessions.begin() as s:
            row = s.get(MessageRow, message_id, with_for_update={"of": MessageRow})
            if row is None:
                raise NotFound(f"no message {message_id}")
            if row.state != DISCOVERED:
                return False
            if attempt is not None and row.seal_attempt != attempt:
                return False
            row.recordings.clear()
            s.flush()
            for rec in recordings:
                row.recordings.append(RecordingRow(fmt=rec.fmt, blob_name=rec.blob_name,
                                                   sha256=rec.sha256, size=rec.size))
            row.kek_id, row.wrapped_dek = wrapped.kek_id, wrapped.blob
            row.state, row.sealed_at, row.updated_at = SEALED, utcnow(), utcnow()
            row.last_error, row.retry_at = "", None
            s.flush()
            self._trail.sealed(s.connection(), message_id, recordings, wrapped.kek_id)
            return True

    def mark_stripped(self, message_id: str) -> str:
        with self._sessions.begin() as s:
            row = s.get(MessageRow, message_id, with_for_update={"of": MessageRow})
            if row is None:
                raise NotFound(f"no message {message_id}")
            note = s.scalars(select(NotificationRow).where(NotificationRow.message_id == message_id)).first()
            if row.state == SEALED:
                row.state, row.stripped_at, row.updated_at = STRIPPED, utcnow(), utcnow()
                s.flush()
                self._trail.stripped(s.connection(), message_id)
            elif row.state != STRIPPED:
                raise NotFound(f"message {message_id} is {row.state}, not sealed")
            if note is None:
                note = NotificationRow(id=str(uuid.uuid4()), message_id=message_id, state="pending",
                                       attempts=0, last_error="", recipient="",
                                       created_at=utcnow(), updated_at=utcnow())
                s.add(note)
            return note.id

    def mark_vanished(self, message_id: str) -> None:
        with self._sessions.begin() as s:
            s.execute(update(MessageRow).where(MessageRow.id == message_id, MessageRow.state == DISCOVERED)
                      .values(state=VANISHED, updated_at=utcnow()))

    def note_failure(self, message_id: str, error: str, retry_in: float | None = None) -> None:
        """Count a failed attempt; ``retry_in``: seconds until the next try (the sweeper waits for it)."""
        now = utcnow()
        retry_at = now + dt.timedelta(seconds=retry_in) if retry_in is not None else None
        with self._sessions.begin() as s:
            s.execute(update(MessageRow).where(MessageRow.id == message_id).values(
                attempts=MessageRow.attempts + 1, last_error=error[:MAX_ERROR], updated_at=now, retry_at=retry_at))

    def discovered_at(self, message_id: str) -> dt.datetime:
        with self._reads() as s:
            row = s.get(MessageRow, message_id)
            if row is None:
                raise NotFound(f"no message {message_id}")
            return _aware(row.discovered_at)

    # --- notifications -----------------------------------------------------------------------
    def claim_notification(self, notification_id: str, lease_seconds: float = 60.0) -> NotificationWork | None:
        """Take the lease on a notification: None when it is done (sent or failed); state "busy" when
        another worker holds a live lease; else state "sending" with a new fencing token, held for
        ``lease_seconds``."""
        now = utcnow()
        with self._sessions.begin() as s:
            row = s.get(NotificationRow, notification_id, with_for_update=True)
            if row is None or row.state in ("sent", "failed", "skipped"):  # skipped: imported, not announced
                return None
            if row.state == "sending" and row.lease_until is not None and _aware(row.lease_until) > now:
                return NotificationWork(row.id, row.message_id, "busy", row.attempts, row.lease_token)
            row.state, row.attempts, row.updated_at = "sending", row.attempts + 1, now
            row.lease_token += 1
            row.lease_until = now + dt.timedelta(seconds=lease_seconds)
            return NotificationWork(row.id, row.message_id, row.state, row.attempts, row.lease_token)

    def renew_lease(self, notification_id: str, token: int, lease_seconds: float) -> bool:
        """Extend our lease if our token is still the newest (nobody claimed the row since, even if the lease
        ran out meanwhile); False = another worker took over (do not send)."""
        now = utcnow()
        with self._sessions.begin() as s:
            done = s.execute(update(NotificationRow).where(
                NotificationRow.id == notification_id, NotificationRow.state == "sending",
                NotificationRow.lease_token == token,
            ).values(lease_until=now + dt.timedelta(seconds=lease_seconds)))
            return bool(getattr(done, "rowcount", 0))

    def release_lease(self, notification_id: str, token: int) -> None:
        """End our lease now (the attempt failed in our hands): the retry may claim the row at once."""
        with self._sessions.begin() as s:
            s.execute(update(NotificationRow).where(
                NotificationRow.id == notification_id, NotificationRow.state == "sending",
                NotificationRow.lease_token == token).values(lease_until=utcnow()))

    def mark_notification_sent(self, notification_id: str, recipient: str, token: int | None = None) -> bool:
        """Record the send. Returns False when ``token`` is no longer the newest claim (another worker
        took over during the send: a second copy is possible); the row is marked sent all the same."""
        with self._sessions.begin() as s:
            row = s.get(NotificationRow, notification_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no notification {notification_id[:64]}")
            ours = token is None or row.lease_token == token
            if row.state != "sent":
                row.state, row.sent_at, row.recipient, row.last_error = "sent", utcnow(), recipient[:320], ""
                s.flush()
                self._trail.notified(s.connection(), row.message_id, notification_id, recipient)
            row.updated_at, row.lease_until = utcnow(), None
            return ours

    def mark_notification_failed(self, notification_id: str, error: str) -> None:
        with self._sessions.begin() as s:
            s.execute(update(NotificationRow).where(NotificationRow.id == notification_id).values(
                state="failed", updated_at=utcnow(), last_error=error[:MAX_ERROR]))

    def notification_for(self, message_id: str) -> tuple[str, str] | None:
        with self._reads() as s:
            row = s.scalars(select(NotificationRow).where(NotificationRow.message_id == message_id)).first()
            return (row.id, row.state) if row else None

    def committed_blobs(self, message_id: str) -> tuple[str, set[str]] | None:
        """(state, blob names on record) of a message, or None if there is no such message."""
        with self._reads() as s:
            row = s.get(MessageRow, message_id)
            if row is None:
                return None
            return row.state, {r.blob_name for r in row.recordings}

    def vault_references(self, message_id: str) -> tuple[str, set[str], str] | None:
        """For vault GC: (state, blob names on record, attempt token of a custody run that may still
        commit). The token is empty unless the message awaits its seal and is not parked."""
        with self._reads() as s:
            row = s.get(MessageRow, message_id)
            if row is None:
                return None
            live = row.seal_attempt if row.state == DISCOVERED else ""
            if live and s.scalars(select(DeadLetterRow.id).where(
                    DeadLetterRow.ref_id == message_id, DeadLetterRow.resolved_at.is_(None))).first() is not None:
                live = ""
            return row.state, {r.blob_name for r in row.recordings}, live

    # --- notifications: administration (list, re-send) ----------------------------------------
    def list_notifications(self, *, failed_only: bool = False, limit: int = 50) -> list[NotificationSummary]:
        """Newest first. ``failed_only``: state failed, or parked as a dead letter (retries exhausted)."""
        with self._reads() as s:
            letters: dict[str, str] = {}
            for letter in s.scalars(select(DeadLetterRow).where(DeadLetterRow.resolved_at.is_(None))
                                    .order_by(DeadLetterRow.id)):
                letters[letter.ref_id] = letter.error
            query = (select(NotificationRow, MessageRow.site, MessageRow.context, MessageRow.mailbox)
                     .join(MessageRow, MessageRow.id == NotificationRow.message_id))
            if failed_only:
                query = query.where(or_(NotificationRow.state == "failed", NotificationRow.id.in_(list(letters))))
            rows = s.execute(query.order_by(NotificationRow.updated_at.desc()).limit(max(1, limit))).all()
            return [NotificationSummary(
                id=n.id, message_id=n.message_id, mailbox=self._named(site, context, mailbox), state=n.state,
                attempts=n.attempts, recipient=n.recipient, last_error=n.last_error, created_at=n.created_at,
                updated_at=n.updated_at, parked=n.id in letters, parked_error=letters.get(n.id, ""))
                for n, site, context, mailbox in rows]

    def _named(self, site: str, context: str, mailbox: str) -> str:
        """A mailbox as administrators name it: 1001@default, or 1001@default@branch on another site than the
        default one (as `voicemail messages list` and web accounts name it)."""
        return MailboxRef(context, mailbox, "" if site == self._default_site else site).qualified

    def requeue_notification(self, notification_id: str, *, due_now: bool) -> str:
        """Put a failed or parked notification back to pending and resolve its dead letters, in one
        transaction. ``due_now``: make it look stale so the next sweep re-enqueues it (no broker to enqueue
        on). Returns the state it was in. Refuses a sent notification (no second copy) and one that is
        being sent right now."""
        with self._sessions.begin() as s:
            row = s.get(NotificationRow, notification_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no notification {notification_id[:64]}")
            letters = list(s.scalars(select(DeadLetterRow).where(
                DeadLetterRow.ref_id == notification_id, DeadLetterRow.resolved_at.is_(None))))
            if row.state == "sent":
                raise InvalidInput(f"notification {notification_id} was sent already; it is not sent twice")
            if row.state == "sending" and not letters:
                raise InvalidInput(f"notification {notification_id} is being sent (or is stuck and the sweeper "
                                   "re-enqueues it); nothing to retry")
            previous = row.state
            now = utcnow()
            row.state, row.updated_at = "pending", (_LONG_AGO if due_now else now)
            for letter in letters:
                letter.resolved_at = now
            return previous

    # --- messages: administration (list problems, retry custody) --------------------------------
    def requeue_message(self, message_id: str, *, due_now: bool) -> str:
        """Give a parked or failing message's custody another go: its dead letters resolved, its crash
        count and scheduled retry cleared, in one transaction. ``due_now``: make it look stale so the next
        sweep re-enqueues it. Returns its state. Refuses a message whose custody is done or over."""
        with self._sessions.begin() as s:
            row = s.get(MessageRow, message_id, with_for_update={"of": MessageRow})
            if row is None:
                raise NotFound(f"no message {message_id[:64]}")
            if row.state not in (DISCOVERED, SEALED):
                raise InvalidInput(f"message {message_id} is {row.state}: its custody is not pending, nothing "
                                   "to retry")
            now = utcnow()
            for letter in s.scalars(select(DeadLetterRow).where(DeadLetterRow.ref_id == message_id,
                                                                DeadLetterRow.resolved_at.is_(None))):
                letter.resolved_at = now
            row.deliveries, row.retry_at = 0, None
            row.updated_at = _LONG_AGO if due_now else now
            return row.state

    def pending_custody(self, limit: int = 50) -> list[tuple[str, str, str, int, str, bool]]:
        """Messages whose custody is not done, oldest first: (id, mailbox, state, attempts, last error,
        parked), the mailbox named with its site when not the default one. No caller data."""
        with self._reads() as s:
            parked = set(s.scalars(select(DeadLetterRow.ref_id).where(DeadLetterRow.resolved_at.is_(None))))
            rows = s.execute(select(MessageRow.id, MessageRow.site, MessageRow.context, MessageRow.mailbox,
                                    MessageRow.state, MessageRow.attempts, MessageRow.last_error)
                             .where(MessageRow.state.in_((DISCOVERED, SEALED)))
                             .order_by(MessageRow.discovered_at).limit(max(1, limit))).all()
            return [(r.id, self._named(r.site, r.context, r.mailbox), r.state, r.attempts, r.last_error,
                     r.id in parked) for r in rows]

    # --- dead letters and sweeping -----------------------------------------------------------
    def dead_letter(self, task: str, ref_id: str, error: str, attempts: int) -> bool:
        """Park work. An unresolved letter for the same work is updated, not doubled. True = newly parked."""
        with self._sessions.begin() as s:
            open_letter = s.scalars(select(DeadLetterRow).where(
                DeadLetterRow.ref_id == ref_id, DeadLetterRow.task == task,
                DeadLetterRow.resolved_at.is_(None)).with_for_update()).first()
            if open_letter is not None:
                open_letter.error, open_letter.attempts = error[:MAX_ERROR], max(open_letter.attempts, attempts)
                return False
            s.add(DeadLetterRow(task=task, ref_id=ref_id, error=error[:MAX_ERROR], attempts=attempts,
                                created_at=utcnow()))
            return True

    def dead_letters(self) -> list[tuple[str, str, str, int]]:
        with self._reads() as s:
            rows = s.scalars(select(DeadLetterRow).where(DeadLetterRow.resolved_at.is_(None))
                             .order_by(DeadLetterRow.id))
            return [(r.task, r.ref_id, r.error, r.attempts) for r in rows]

    def stuck(self, older_than_seconds: float) -> list[StuckWork]:
        """Work to re-enqueue: messages not progressing for ``older_than_seconds`` (and, when a retry is
        scheduled, that long past it); pending notifications as old; sending ones whose lease ended."""
        now = utcnow()
        cutoff = now - dt.timedelta(seconds=older_than_seconds)
        with self._reads() as s:
            parked = set(s.scalars(select(DeadLetterRow.ref_id).where(DeadLetterRow.resolved_at.is_(None))))
            out: list[StuckWork] = []
            for m in s.execute(select(MessageRow.id, MessageRow.state, MessageRow.updated_at, MessageRow.site).where(
                    MessageRow.state.in_((DISCOVERED, SEALED)), MessageRow.updated_at < cutoff,
                    or_(MessageRow.retry_at.is_(None), MessageRow.retry_at < cutoff))):
                if m.id not in parked:
                    out.append(StuckWork("message", m.id, m.state, m.updated_at, m.site))
            for n in s.execute(select(NotificationRow.id, NotificationRow.state, NotificationRow.updated_at).where(or_(
                    (NotificationRow.state == "pending") & (NotificationRow.updated_at < cutoff),
                    (NotificationRow.state == "sending") & or_(
                        NotificationRow.lease_until < now,
                        NotificationRow.lease_until.is_(None) & (NotificationRow.updated_at < cutoff))))):
                if n.id not in parked:
                    out.append(StuckWork("notification", n.id, n.state, n.updated_at))
            return out

    def touch(self, kind: str, ref_id: str) -> None:
        """Mark re-enqueued work as fresh so the next sweep leaves it alone for a while."""
        self.touch_many(kind, [ref_id])

    def touch_many(self, kind: str, ref_ids: Sequence[str], chunk: int = 1000) -> None:
        """``touch`` for many items of one kind: one statement per ``chunk`` ids, one transaction."""
        table = MessageRow if kind == "message" else NotificationRow
        ids = list(dict.fromkeys(ref_ids))
        if not ids:
            return
        now = utcnow()
        with self._sessions.begin() as s:
            for start in range(0, len(ids), chunk):
                s.execute(update(table).where(table.id.in_(ids[start:start + chunk])).values(updated_at=now))

    # --- mailboxes ---------------------------------------------------------------------------
    def upsert_mailbox(self, owner: MailboxOwner) -> None:
        ref = owner.mailbox
        try:
            with self._sessions.begin() as s:
                row = s.scalars(select(MailboxRow).where(MailboxRow.site == self._site_of(ref),
                                                         MailboxRow.context == ref.context,
                                                         MailboxRow.mailbox == ref.mailbox)).first()
                if row is None:
                    s.add(MailboxRow(site=self._site_of(ref), context=ref.context, mailbox=ref.mailbox,
                                     fullname=owner.fullname[:200], email=owner.email[:320],
                                     timezone=owner.timezone[:64], updated_at=utcnow()))
                else:
                    row.fullname, row.email, row.updated_at = owner.fullname[:200], owner.email[:320], utcnow()
                s.flush()
                self._fenced(s)
        except IntegrityError:
            pass  # a concurrent upsert won; the next sync refreshes it

    def owner(self, mailbox: MailboxRef) -> MailboxOwner | None:
        with self._reads() as s:
            # a record's mailbox: no site = the default site's (whichever site this store serves)
            row = s.scalars(select(MailboxRow).where(MailboxRow.site == (mailbox.site or self._default_site),
                                                     MailboxRow.context == mailbox.context,
                                                     MailboxRow.mailbox == mailbox.mailbox)).first()
            if row is None:
                return None
            return MailboxOwner(mailbox, row.fullname, row.email, row.timezone)

    def summary(self) -> dict[str, int]:
        """How many messages are in each state and notifications in each state (for reports)."""
        with self._reads() as s:
            out: dict[str, int] = {}
            for state in s.scalars(select(MessageRow.state)):
                out[f"messages.{state}"] = out.get(f"messages.{state}", 0) + 1
            for state in s.scalars(select(NotificationRow.state)):
                out[f"notifications.{state}"] = out.get(f"notifications.{state}", 0) + 1
            parked = s.scalars(select(DeadLetterRow.ref_id).where(DeadLetterRow.resolved_at.is_(None))).all()
            if parked:
                out["dead_letters.open"] = len(set(parked))
            return out
