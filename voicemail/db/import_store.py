"""SqlImportStore: the database side of `voicemail import` (voicemail.services.spool_import).

A batch of sealed messages is committed in ONE transaction: their message rows (state sealed), recordings,
wrapped keys, notification rows ("skipped" unless the run announces them) and the per-message custody
events ``custody.discovered`` and ``custody.sealed`` (voicemail.audit.custody_trail), exactly as the live
pipeline writes them. A message another process recorded meanwhile (the live pipeline) is left out of the
batch and reported back, so custody is never taken twice.
"""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from voicemail.audit.chain import AuditEvent
from voicemail.audit.custody_trail import CustodyTrail
from voicemail.audit.store import AuditLog
from voicemail.db.models import ImportRunRow, MessageRow, NotificationRow, RecordingRow, utcnow
from voicemail.domain.models import Caller, MailboxRef, SealedRecording, SpoolMessage, WrappedKey
from voicemail.domain.records import SEALED, STRIPPED
from voicemail.spool.envelope import parse_callerid

RUNNING, INTERRUPTED, DONE = "running", "interrupted", "done"
SKIPPED = "skipped"  # a notification state: imported without announcement, never sent


@dataclass(frozen=True)
class ImportRun:
    id: str
    cutoff: int
    notify: bool
    resumed: bool
    imported: int
    claimed_at: dt.datetime  # the run's updated_at as this invocation set it (an import resuming it sets its own)


@dataclass(frozen=True)
class SealedImport:
    """One message sealed by the import, ready to commit."""

    message_id: str
    message: SpoolMessage
    caller: Caller
    envelope: bytes
    wrapped: WrappedKey
    recordings: tuple[SealedRecording, ...]


class SqlImportStore:
    def __init__(self, sessions: sessionmaker[Session], trail: CustodyTrail | None = None, *,
                 site: str = "default") -> None:
        """``site``: the Asterisk whose spool is imported (its messages are recorded under that site; its
        runs are its own: another site's unfinished run is neither resumed nor waited for here)."""
        self._sessions = sessions
        self._site = site
        self._trail = trail or CustodyTrail(f"import@{socket.gethostname()[:120]}")

    # --- the run --------------------------------------------------------------------------------
    def database_time(self) -> int:
        """The database server's clock, in whole seconds since the epoch, rounded down (a cast alone rounds to
        the nearest second: up to half a second ahead of the clock). SQLite: this machine's clock."""
        with self._sessions() as s:
            if s.get_bind().dialect.name == "postgresql":
                return int(s.execute(text("SELECT CAST(FLOOR(EXTRACT(EPOCH FROM now())) AS BIGINT)")).scalar_one())
            return int(s.execute(text("SELECT CAST(strftime('%s', 'now') AS INTEGER)")).scalar_one())

    def open_run(self, cutoff: int, notify: bool, actor: str) -> ImportRun:
        """Resume the site's newest unfinished run (its cutoff and notify choice stand), or start one.
        Writes the run's ``custody.import`` audit event in the same transaction."""
        with self._sessions.begin() as s:
            row = s.scalars(select(ImportRunRow).where(ImportRunRow.site == self._site,
                                                       ImportRunRow.state.in_((RUNNING, INTERRUPTED)))
                            .order_by(ImportRunRow.started_at.desc()).with_for_update()).first()
            resumed = row is not None
            claimed_at = utcnow()
            if row is None:
                row = ImportRunRow(id=str(uuid.uuid4()), site=self._site, cutoff=cutoff, notify=notify,
                                   state=RUNNING, imported=0, started_at=claimed_at, updated_at=claimed_at)
                s.add(row)
            else:
                row.state, row.updated_at = RUNNING, claimed_at
            s.flush()
            AuditLog(s.connection().engine).append(AuditEvent(
                actor=actor, action="custody.import", source=self._trail.source,
                details={"run": row.id, "site": self._site, "cutoff": row.cutoff, "notify": row.notify,
                         "resumed": resumed}),
                s.connection())
            return ImportRun(row.id, row.cutoff, row.notify, resumed, row.imported, claimed_at)

    def unfinished_cutoff(self) -> int | None:
        """The cutoff of the site's unfinished run (its older messages are its to take), or None."""
        with self._sessions() as s:
            return s.scalars(select(ImportRunRow.cutoff).where(ImportRunRow.site == self._site,
                                                               ImportRunRow.state.in_((RUNNING, INTERRUPTED)))
                             .order_by(ImportRunRow.started_at.desc())).first()

    def end_run(self, run: ImportRun, state: str, imported: int = 0, actor: str = "custody",
                counts: Mapping[str, int] | None = None) -> bool:
        """Record the run as interrupted or done; ``imported``: messages this invocation imported (added).
        The state is written only while the run is still this invocation's: an import that resumed it since
        (after this one lost the site's lock) owns it, and its state stands; the messages this invocation
        imported are counted either way. Returns whether the state was written. Writes the
        ``custody.import_end`` audit event in the same transaction: the state, the messages this invocation
        imported, the run's total so far and ``counts`` (what else this invocation saw); ``resumed_elsewhere``
        when another import had resumed the run."""
        with self._sessions.begin() as s:
            total = s.scalar(update(ImportRunRow).where(ImportRunRow.id == run.id).values(
                imported=ImportRunRow.imported + imported).returning(ImportRunRow.imported))
            written = s.scalar(update(ImportRunRow).where(ImportRunRow.id == run.id,
                                                          ImportRunRow.updated_at == run.claimed_at).values(
                state=state, updated_at=utcnow(), finished_at=utcnow() if state == DONE else None)
                .returning(ImportRunRow.id)) is not None
            taken = {} if written else {"resumed_elsewhere": True}
            AuditLog(s.connection().engine).append(AuditEvent(
                actor=actor, action="custody.import_end", source=self._trail.source,
                details={"run": run.id, "site": self._site, "state": state, "imported": imported,
                         "imported_in_run": int(total or 0), **dict(counts or {}), **taken}),
                s.connection())
            return written

    # --- messages -------------------------------------------------------------------------------
    def states(self, mailbox: MailboxRef) -> dict[str, tuple[str, str]]:
        """msg_id -> (our message id, state) of every message of ``mailbox`` on record."""
        with self._sessions() as s:
            rows = s.execute(select(MessageRow.msg_id, MessageRow.id, MessageRow.state).where(
                MessageRow.site == self._site, MessageRow.context == mailbox.context,
                MessageRow.mailbox == mailbox.mailbox))
            return {r.msg_id: (r.id, r.state) for r in rows}

    def commit_sealed(self, batch: Sequence[SealedImport], notify: bool) -> list[SealedImport]:
        """Record the batch in one transaction. Returns the messages left out because they were on record
        already (their blobs are the caller's to delete)."""
        pending = list(batch)
        while True:
            taken = self._on_record(pending)
            fresh = [item for item in pending if (item.message.mailbox, item.message.envelope.msg_id) not in taken]
            try:
                self._insert(fresh, notify)
            except IntegrityError:  # the live pipeline recorded one of them since: look again
                continue
            return [item for item in pending if item not in fresh]

    def _on_record(self, batch: Sequence[SealedImport]) -> set[tuple[MailboxRef, str]]:
        if not batch:
            return set()
        keys = [(i.message.mailbox.context, i.message.mailbox.mailbox, i.message.envelope.msg_id) for i in batch]
        with self._sessions() as s:
            rows = s.execute(select(MessageRow.context, MessageRow.mailbox, MessageRow.msg_id).where(
                MessageRow.site == self._site,
                tuple_(MessageRow.context, MessageRow.mailbox, MessageRow.msg_id).in_(keys)))
            return {(MailboxRef(r.context, r.mailbox), r.msg_id) for r in rows}

    def _insert(self, batch: Sequence[SealedImport], notify: bool) -> None:
        """Core inserts (one multi-row statement per table), not ORM objects: a batch is hundreds of rows."""
        if not batch:
            return
        now = utcnow()
        messages: list[dict[str, object]] = []
        recordings: list[dict[str, object]] = []
        notes: list[dict[str, object]] = []
        events: list[AuditEvent] = []
        for item in batch:
            env, msg = item.message.envelope, item.message
            messages.append({
                "id": item.message_id, "site": self._site, "context": msg.mailbox.context,
                "mailbox": msg.mailbox.mailbox,
                "msg_id": env.msg_id, "state": SEALED, "folder": msg.folder, "spool_number": msg.number,
                "origtime": env.origtime, "duration": env.duration, "urgent": env.urgent,
                "caller_context": env.context[:80], "callerid_raw": env.callerid,
                "caller_kind": item.caller.kind.value, "caller_name": item.caller.name,
                "caller_number": item.caller.number, "envelope": item.envelope, "kek_id": item.wrapped.kek_id,
                "wrapped_dek": item.wrapped.blob, "attempts": 0, "last_error": "", "deliveries": 0,
                "seal_attempt": "", "discovered_at": now, "sealed_at": now, "updated_at": now,
                "caller_withheld": parse_callerid(env.callerid)[1] is None})
            recordings.extend({"message_id": item.message_id, "fmt": r.fmt, "blob_name": r.blob_name,
                               "sha256": r.sha256, "size": r.size} for r in item.recordings)
            if not notify:
                notes.append({"id": str(uuid.uuid4()), "message_id": item.message_id, "state": SKIPPED,
                              "attempts": 0, "last_error": "imported: not announced", "recipient": "",
                              "created_at": now, "updated_at": now, "lease_token": 0})
            events.append(self._trail.discovered_event(item.message_id, msg.mailbox.on_site(self._site), env.msg_id,
                                                       msg.folder))
            events.append(self._trail.sealed_event(item.message_id, item.recordings, item.wrapped.kek_id))
        with self._sessions.begin() as s:
            conn = s.connection()
            conn.execute(insert(MessageRow), messages)
            conn.execute(insert(RecordingRow), recordings)
            if notes:
                conn.execute(insert(NotificationRow), notes)
            self._trail.write_all(conn, events)

    def mark_stripped(self, message_ids: Sequence[str], notify: bool) -> list[str]:
        """Sealed -> stripped for the batch, one transaction, one ``custody.stripped`` event each, and (with
        ``notify``) a pending notification each, which the service's sweeper hands to the mailer as for
        any new message. Returns the ids that changed state (another process may have stripped some)."""
        if not message_ids:
            return []
        now = utcnow()
        with self._sessions.begin() as s:
            changed = list(s.scalars(update(MessageRow).where(MessageRow.id.in_(list(message_ids)),
                                                              MessageRow.state == SEALED)
                                     .values(state=STRIPPED, stripped_at=now, updated_at=now)
                                     .returning(MessageRow.id)))
            self._trail.write_all(s.connection(), [self._trail.stripped_event(m) for m in changed])
            if notify and changed:
                noted = set(s.scalars(select(NotificationRow.message_id).where(
                    NotificationRow.message_id.in_(changed))))
                s.add_all(NotificationRow(id=str(uuid.uuid4()), message_id=m, state="pending", attempts=0,
                                          last_error="", recipient="", created_at=now, updated_at=now)
                          for m in changed if m not in noted)
            return changed



    def sealed_hashes(self, message_id: str) -> dict[str, str]:
        """fmt -> SHA-256 of each sealed recording of a message."""
        with self._sessions() as s:
            rows = s.scalars(select(RecordingRow).where(RecordingRow.message_id == message_id))
            return {r.fmt: r.sha256 for r in rows}
