"""SqlPendingMoves: the ``pending_moves`` outbox of folder moves decided on the phone.

``decide`` is one transaction: the message's folder as we list it, the pending move and the audit event
of the decision (joined to the same transaction), so that the decision is either wholly recorded or not
at all. The move worker then reads, completes or reschedules the row; ``done`` and ``failed`` act only on
the decision they were handed (``token``), never on a newer one. The move's target is the folder the
message is listed in when the worker reads the row (``get``), not one remembered from the decision.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from voicemail.audit.chain import AuditEvent
from voicemail.audit.store import AuditLog
from voicemail.db.models import MessageRow, PendingMoveRow, utcnow
from voicemail.domain.models import MailboxRef
from voicemail.domain.pending_move import PendingMove
from voicemail.domain.records import LISTED_STATES


def _at(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


class SqlPendingMoves:
    def __init__(self, sessions: sessionmaker[Session], audit: AuditLog, default_site: str = "default",
                 site: str | None = None) -> None:
        """``site``: ``due`` lists only the moves of that site's messages (the one Asterisk the process that
        carries them out serves, under its listener lease); None = every site."""
        self._sessions = sessions
        self._audit = audit
        self._default_site = default_site
        self._site = site

    def decide(self, message_id: str, from_folder: str, to_folder: str, event: AuditEvent, *,
               hide: bool = False) -> str:
        """List the message in ``to_folder`` (``hide``: no longer list it at all), record the move for
        Asterisk (replacing any earlier one of the message) and append ``event``, in one transaction.
        Returns the decision's token."""
        token = secrets.token_hex(8)
        now = utcnow()
        with self._sessions.begin() as s:
            values: dict[str, object] = {"folder": to_folder, "updated_at": now}
            if hide:
                values["hidden_at"] = func.coalesce(MessageRow.hidden_at, now)
            s.execute(update(MessageRow).where(MessageRow.id == message_id).values(**values))
            s.execute(delete(PendingMoveRow).where(PendingMoveRow.message_id == message_id))
            s.add(PendingMoveRow(message_id=message_id, from_folder=from_folder, to_folder=to_folder, token=token,
                                 requested_at=now, attempts=0, next_at=now, last_error=""))
            s.flush()
            self._audit.append(event, conn=s.connection())
        return token

    def get(self, message_id: str) -> PendingMove | None:
        with self._sessions() as s:
            r = s.execute(select(PendingMoveRow.message_id, PendingMoveRow.from_folder, PendingMoveRow.to_folder,
                                 PendingMoveRow.token, PendingMoveRow.attempts, MessageRow.site, MessageRow.context,
                                 MessageRow.mailbox, MessageRow.msg_id, MessageRow.state, MessageRow.hidden_at,
                                 MessageRow.folder)
                          .join(MessageRow, MessageRow.id == PendingMoveRow.message_id)
                          .where(PendingMoveRow.message_id == message_id)).first()
        if r is None:
            return None
        site = "" if r.site == self._default_site else r.site
        # the folder the message is listed in now is where Asterisk is to have it (every later decision
        # replaces or removes this row in the transaction that lists it elsewhere; this holds regardless)
        return PendingMove(r.message_id, MailboxRef(r.context, r.mailbox, site), r.msg_id, r.from_folder,
                           r.folder or r.to_folder,
                           r.token, int(r.attempts), r.state in LISTED_STATES and r.hidden_at is None,
                           r.state in LISTED_STATES and r.hidden_at is not None)

    def due(self, limit: int = 100, now: float | None = None) -> list[str]:
        """Ids of the messages whose move is due (never tried, or its retry time has come), oldest first."""
        at = utcnow() if now is None else _at(now)
        query = select(PendingMoveRow.message_id).where(PendingMoveRow.next_at <= at)
        if self._site is not None:
            query = query.join(MessageRow, MessageRow.id == PendingMoveRow.message_id).where(
                MessageRow.site == self._site)
        with self._sessions() as s:
            return list(s.scalars(query.order_by(PendingMoveRow.next_at).limit(limit)))

    def done(self, message_id: str, token: str, folder: str, number: int | None) -> bool:
        """Asterisk has the message in ``folder``: the move is over (False: a newer decision replaced it)."""
        with self._sessions.begin() as s:
            gone = s.connection().execute(delete(PendingMoveRow).where(PendingMoveRow.message_id == message_id,
                                                          PendingMoveRow.token == token)).rowcount
            if gone:
                s.execute(update(MessageRow).where(MessageRow.id == message_id)
                          .values(folder=folder, spool_number=number, updated_at=utcnow()))
        return bool(gone)

    def drop(self, message_id: str, token: str) -> bool:
        """Nothing is left to move (the message is destroyed, hidden or gone from Asterisk)."""
        with self._sessions.begin() as s:
            return bool(s.connection().execute(delete(PendingMoveRow).where(PendingMoveRow.message_id == message_id,
                                                               PendingMoveRow.token == token)).rowcount)

    def failed(self, message_id: str, token: str, error: str, retry_at: float) -> int:
        """Count a failed attempt and set when to try again. Returns the attempts so far (0: replaced)."""
        with self._sessions.begin() as s:
            s.execute(update(PendingMoveRow).where(PendingMoveRow.message_id == message_id,
                                                   PendingMoveRow.token == token)
                      .values(attempts=PendingMoveRow.attempts + 1, last_error=error[:200], next_at=_at(retry_at)))
            attempts = s.execute(select(PendingMoveRow.attempts).where(PendingMoveRow.message_id == message_id,
                                                                       PendingMoveRow.token == token)).scalar()
        return int(attempts or 0)

    def listed_folder(self, message_id: str) -> str | None:
        """The folder the message is listed in now (None: not listed)."""
        with self._sessions() as s:
            r = s.execute(select(MessageRow.folder, MessageRow.state, MessageRow.hidden_at)
                          .where(MessageRow.id == message_id)).first()
        return r.folder if r is not None and r.state in LISTED_STATES and r.hidden_at is None else None

    def counts(self) -> tuple[int, int]:
        """(pending moves, those that failed at least once)."""
        with self._sessions() as s:
            total, failing = s.execute(select(func.count(), func.count().filter(PendingMoveRow.attempts > 0))
                                       .select_from(PendingMoveRow)).one()
        return int(total or 0), int(failing or 0)
