"""SqlPinStore: the phone PINs and their lockout counters in the ``phone_pins`` table.

Settling a PIN entry is one transaction that takes the row's write lock first (UPDATE), re-checks the
lock time, counts and, at the threshold, locks: PINs entered on several calls at once cannot slip past
the limit, or past a lock, between a read and a write. The entry's audit events (sign-in, failure,
lockout) are appended in that same transaction: one commit per PIN entry, never an outcome without its
record.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from voicemail.audit.store import AuditLog
from voicemail.domain.models import MailboxRef
from voicemail.phone.tables import phone_pins
from voicemail.services.phone_pins import Settled


@dataclass(frozen=True)
class PinRow:
    pin_hash: str
    failed_count: int
    locked_until: float | None


class SqlPinStore:
    """``default_site``: the site a MailboxRef without one names (site_name); each site's mailbox has its
    own PIN. ``audit``: the audit log that ``settle`` appends a PIN entry's events to in its own transaction."""

    def __init__(self, engine: Engine, default_site: str = "default", audit: AuditLog | None = None) -> None:
        self._engine = engine
        self._default_site = default_site
        self._audit = audit

    def _site(self, ref: MailboxRef) -> str:
        return ref.site or self._default_site

    def _key(self, ref: MailboxRef) -> ColumnElement[bool]:
        return and_(phone_pins.c.site == self._site(ref), phone_pins.c.context == ref.context,
                    phone_pins.c.mailbox == ref.mailbox)

    def get(self, ref: MailboxRef) -> PinRow | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(phone_pins.c.pin_hash, phone_pins.c.failed_count, phone_pins.c.locked_until)
                               .where(self._key(ref))).first()
        return PinRow(row.pin_hash, row.failed_count, row.locked_until) if row is not None else None

    def put(self, ref: MailboxRef, pin_hash: str, by: str, now: float) -> None:
        """Set the PIN (a new one also clears the failure counter and any lock)."""
        values = {"pin_hash": pin_hash, "failed_count": 0, "locked_until": None, "updated_at": now,
                  "updated_by": by[:200]}
        with self._engine.begin() as conn:
            done = conn.execute(update(phone_pins).where(self._key(ref)).values(**values))
            if done.rowcount == 0:
                conn.execute(insert(phone_pins).values(site=self._site(ref), context=ref.context, mailbox=ref.mailbox,
                                                       **values))

    def settle(self, ref: MailboxRef, matched: bool, now: float, threshold: int, lock_seconds: float,
               events: Settled | None = None) -> tuple[str, int, bool, bool]:
        """Record the outcome of one PIN entry in one transaction that first takes the row's write lock
        and re-checks the lock time, so that calls checking PINs at the same moment cannot slip past a
        lock another call has just set. Returns ("ok" | "wrong" | "locked", failures so far, whether this
        entry locked the mailbox, whether ``events`` were appended). At ``threshold`` failures the mailbox
        is locked until ``now + lock_seconds`` and the count starts again. With an audit log, the events
        ``events`` gives for the outcome are appended in the same transaction (one commit)."""
        with self._engine.begin() as conn:
            result, count, locked = self._settle(conn, ref, matched, now, threshold, lock_seconds)
            if events is None or self._audit is None:
                return result, count, locked, False
            self._audit.append_many(events(result, count, locked), conn)
            return result, count, locked, True

    def _settle(self, conn: Connection, ref: MailboxRef, matched: bool, now: float, threshold: int,
                lock_seconds: float) -> tuple[str, int, bool]:
        open_row = and_(self._key(ref), or_(phone_pins.c.locked_until.is_(None), phone_pins.c.locked_until <= now))
        if matched:
            done = conn.execute(update(phone_pins).where(open_row).values(failed_count=0, locked_until=None))
            return ("ok" if done.rowcount else "locked"), 0, False
        done = conn.execute(update(phone_pins).where(open_row)
                            .values(failed_count=phone_pins.c.failed_count + 1, locked_until=None))
        if not done.rowcount:
            return "locked", 0, False
        count = int(conn.execute(select(phone_pins.c.failed_count).where(self._key(ref))).scalar_one())
        if count >= threshold:
            conn.execute(update(phone_pins).where(self._key(ref))
                         .values(failed_count=0, locked_until=now + lock_seconds))
            return "wrong", count, True
        return "wrong", count, False

    def record_failure(self, ref: MailboxRef, now: float, threshold: int, lock_seconds: float) -> tuple[int, bool]:
        """One more failure (see ``settle``): (failures counted so far, whether this one locked the mailbox)."""
        _, count, locked, _ = self.settle(ref, False, now, threshold, lock_seconds)
        return count, locked

    def unlock(self, ref: MailboxRef) -> bool:
        """Clear the lock and the counter. False when the mailbox has no PIN."""
        with self._engine.begin() as conn:
            done = conn.execute(update(phone_pins).where(self._key(ref)).values(failed_count=0, locked_until=None))
        return bool(done.rowcount)

    def remove(self, ref: MailboxRef) -> bool:
        with self._engine.begin() as conn:
            return bool(conn.execute(delete(phone_pins).where(self._key(ref))).rowcount)
