"""SqlForwardStore: the forwarded copies of messages, on SQLAlchemy.

A forwarded copy is a row of ``messages`` in the recipient's mailbox (same msg_id: app_voicemail copies
the ``.txt`` as it is, capture q2b and the stand-in), sealed under its own data key, plus a
``message_forwards`` row (who sent it on, the comment). It is inserted in state ``forwarding`` before
Asterisk is asked to copy the envelope, so that the spool scan knows the msg_id when the placeholder
appears and never takes it for a new recording; ``complete`` makes it ``stripped`` and creates its
notification, once, whoever sees the placeholder first (the forward itself or the spool scan).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from voicemail.audit.chain import AuditEvent
from voicemail.audit.custody_trail import CustodyTrail
from voicemail.db.models import ForwardRow, MessageRow, NotificationRow, RecordingRow, utcnow
from voicemail.domain.errors import Conflict
from voicemail.domain.forwarding import ForwardCopy, ForwardNote
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import FORWARDING, SEALED, STRIPPED

# A notification created with this updated_at is picked up by the next sweep (embedded mode) at once.
_DUE_NOW = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class SqlForwardStore:
    def __init__(self, sessions: sessionmaker[Session], reads: sessionmaker[Session] | None = None,
                 trail: CustodyTrail | None = None, *, site: str = "", default_site: str = "default") -> None:
        """``site``: the Asterisk this process serves (empty = ``default_site``), as for SqlMessageStore: a
        MailboxRef without a site names a mailbox of that site."""
        self._sessions = sessions
        self._reads = reads or sessions
        self._trail = trail or CustodyTrail()
        self._default_site = default_site
        self._site = site or default_site

    def _site_of(self, mailbox: MailboxRef) -> str:
        return mailbox.site or self._site

    def _ref(self, site: str, context: str, mailbox: str) -> MailboxRef:
        return MailboxRef(context, mailbox, "" if site == self._default_site else site)

    def in_mailbox(self, mailbox: MailboxRef, msg_id: str) -> bool:
        """Whether the mailbox has (or had: tombstones count) a message with this msg_id."""
        with self._reads() as s:
            return s.scalar(select(MessageRow.id).where(
                MessageRow.site == self._site_of(mailbox), MessageRow.context == mailbox.context,
                MessageRow.mailbox == mailbox.mailbox,
                MessageRow.msg_id == msg_id).limit(1)) is not None

    def insert(self, copy: ForwardCopy) -> None:
        """The copy in state ``forwarding`` (not listed, not counted). Conflict when the recipient's
        mailbox already has a message with this msg_id."""
        src, ref = copy.source, copy.mailbox
        with self._reads() as s:
            original = s.get(MessageRow, src.id)
            if original is None:
                raise Conflict("the message is no longer there")
            values = {"caller_context": original.caller_context, "callerid_raw": original.callerid_raw,
                      "caller_kind": original.caller_kind, "caller_name": original.caller_name,
                      "caller_number": original.caller_number, "envelope": original.envelope}
        now = utcnow()
        row = MessageRow(
            id=copy.message_id, site=self._site_of(ref), context=ref.context, mailbox=ref.mailbox, msg_id=src.msg_id,
            state=FORWARDING,
            folder="INBOX", spool_number=None, origtime=src.origtime, duration=src.duration, urgent=src.urgent,
            kek_id=copy.wrapped.kek_id, wrapped_dek=copy.wrapped.blob, attempts=0, last_error="",
            discovered_at=now, sealed_at=now, updated_at=now, **values)
        for rec in copy.recordings:
            row.recordings.append(RecordingRow(fmt=rec.fmt, blob_name=rec.blob_name, sha256=rec.sha256,
                                               size=rec.size))
        note = copy.note
        try:
            with self._sessions.begin() as s:
                s.add(row)
                s.flush()
                s.add(ForwardRow(message_id=copy.message_id, source_message_id=note.source_message_id,
                                 forwarded_by=note.forwarded_by[:200], forwarder_label=note.forwarder_label[:200],
                                 comment=note.comment, created_at=now))
        except IntegrityError:
            raise Conflict("that mailbox already has this message") from None

    def complete(self, message_id: str, folder: str, number: int | None,
                 events: list[AuditEvent]) -> str | None:
        """``forwarding`` -> ``stripped`` with its notification (due now) and ``events`` in one transaction.
        Returns the notification id, or None when the copy was completed already (or discarded)."""
        with self._sessions.begin() as s:
            done = s.execute(update(MessageRow).where(MessageRow.id == message_id, MessageRow.state == FORWARDING)
                             .values(state=STRIPPED, folder=folder, spool_number=number, stripped_at=utcnow(),
                                     updated_at=utcnow()).returning(MessageRow.id)).first()
            if done is None:
                return None
            note = NotificationRow(id=str(uuid.uuid4()), message_id=message_id, state="pending", attempts=0,
                                   last_error="", recipient="", created_at=utcnow(), updated_at=_DUE_NOW)
            s.add(note)
            s.flush()
            self._trail.write_all(s.connection(), events)
            return note.id

    def discard(self, message_id: str) -> list[str]:
        """Remove a copy that never reached Asterisk (still ``forwarding``); returns its blob names for the
        caller to delete from the vault. Nothing when it was completed meanwhile."""
        with self._sessions.begin() as s:
            row = s.get(MessageRow, message_id, with_for_update={"of": MessageRow})
            if row is None or row.state != FORWARDING:
                return []
            blobs = [r.blob_name for r in row.recordings]
            s.execute(delete(ForwardRow).where(ForwardRow.message_id == message_id))
            s.execute(delete(RecordingRow).where(RecordingRow.message_id == message_id))
            s.delete(row)
            return blobs

    def waiting(self, mailbox: MailboxRef) -> dict[str, str]:
        """msg_id -> message id of the copies on their way into this mailbox."""
        with self._reads() as s:
            rows = s.execute(select(MessageRow.msg_id, MessageRow.id).where(
                MessageRow.site == self._site_of(mailbox), MessageRow.context == mailbox.context,
                MessageRow.mailbox == mailbox.mailbox,
                MessageRow.state == FORWARDING))
            return {r.msg_id: r.id for r in rows}

    def stale(self, older_than_seconds: float) -> list[tuple[str, MailboxRef, str]]:
        """(message id, mailbox, msg_id) of the copies still ``forwarding`` after ``older_than_seconds``."""
        cutoff = utcnow() - dt.timedelta(seconds=older_than_seconds)
        with self._reads() as s:
            rows = s.execute(select(MessageRow.id, MessageRow.site, MessageRow.context, MessageRow.mailbox,
                                    MessageRow.msg_id).where(
                MessageRow.state == FORWARDING, MessageRow.site == self._site,
                MessageRow.updated_at < cutoff).limit(500))
            return [(r.id, self._ref(r.site, r.context, r.mailbox), r.msg_id) for r in rows]

    def note(self, message_id: str) -> ForwardNote | None:
        with self._reads() as s:
            row = s.get(ForwardRow, message_id)
            if row is None:
                return None
            return ForwardNote(row.source_message_id, row.forwarded_by, row.forwarder_label, row.comment)

    def notes(self, message_ids: Sequence[str]) -> dict[str, ForwardNote]:
        """The notes of those of ``message_ids`` that are forwarded copies, in one query (a batch)."""
        if not message_ids:
            return {}
        with self._reads() as s:
            rows = s.scalars(select(ForwardRow).where(ForwardRow.message_id.in_(list(message_ids))))
            return {r.message_id: ForwardNote(r.source_message_id, r.forwarded_by, r.forwarder_label, r.comment)
                    for r in rows}

    def notification_of(self, message_id: str) -> str | None:
        with self._reads() as s:
            found = s.scalar(select(NotificationRow.id).where(NotificationRow.message_id == message_id))
            return str(found) if found is not None else None

    def usage(self, mailbox: MailboxRef | None) -> int:
        """Bytes of sealed audio in the mailbox (None: the whole site), forwarded copies on their way included."""
        query = (select(func.coalesce(func.sum(RecordingRow.size), 0))
                 .join(MessageRow, MessageRow.id == RecordingRow.message_id)
                 .where(MessageRow.state.in_((SEALED, STRIPPED, FORWARDING))))
        if mailbox is not None:
            query = query.where(MessageRow.site == self._site_of(mailbox), MessageRow.context == mailbox.context,
                                MessageRow.mailbox == mailbox.mailbox)
        else:
            query = query.where(MessageRow.site == self._site)
        with self._reads() as s:
            return int(s.scalar(query) or 0)
