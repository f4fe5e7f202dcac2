"""SqlPinStore: the phone PINs and their lockout counters in the ``phone_pins`` table.

Counting a failure is one transaction that increments and, at the threshold, locks: concurrent wrong
PINs on several calls cannot slip past the limit between a read and a write.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, insert, select, update
from sqlalchemy.engine import Engine

from voicemail.domain.models import MailboxRef
from voicemail.phone.tables import phone_pins


@dataclass(frozen=True)
class PinRow:
    pin_hash: str
    failed_count: int
    locked_until: float | None


def _key(ref: MailboxRef) -> ColumnElement[bool]:
    return and_(phone_pins.c.context == ref.context, phone_pins.c.mailbox == ref.mailbox)


class SqlPinStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, ref: MailboxRef) -> PinRow | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(phone_pins.c.pin_hash, phone_pins.c.failed_count, phone_pins.c.locked_until)
                               .where(_key(ref))).first()
        return PinRow(row.pin_hash, row.failed_count, row.locked_until) if row is not None else None

    def put(self, ref: MailboxRef, pin_hash: str, by: str, now: float) -> None:
        """Set the PIN (a new one also clears the failure counter and any lock)."""
        values = {"pin_hash": pin_hash, "failed_count": 0, "locked_until": None, "updated_at": now,
                  "updated_by": by[:200]}
        with self._engine.begin() as conn:
            done = conn.execute(update(phone_pins).where(_key(ref)).values(**values))
            if done.rowcount == 0:
                conn.execute(insert(phone_pins).values(context=ref.context, mailbox=ref.mailbox, **values))

    def record_failure(self, ref: MailboxRef, now: float, threshold: int, lock_seconds: float) -> tuple[int, bool]:
        """One more failure: (failures counted so far, whether this one locked the mailbox). At the
        threshold the mailbox is locked until ``now + lock_seconds`` and the counter starts again."""
        with self._engine.begin() as conn:
            conn.execute(update(phone_pins).where(_key(ref))
                         .values(failed_count=phone_pins.c.failed_count + 1))
            row = conn.execute(select(phone_pins.c.failed_count).where(_key(ref)).with_for_update()).first()
            if row is None:
                return 0, False
            count = int(row.failed_count)
            if count >= threshold:
                conn.execute(update(phone_pins).where(_key(ref))
                             .values(failed_count=0, locked_until=now + lock_seconds))
                return count, True
            return count, False

    def succeeded(self, ref: MailboxRef) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(phone_pins).where(_key(ref)).values(failed_count=0, locked_until=None))

    def unlock(self, ref: MailboxRef) -> bool:
        """Clear the lock and the counter. False when the mailbox has no PIN."""
        with self._engine.begin() as conn:
            done = conn.execute(update(phone_pins).where(_key(ref)).values(failed_count=0, locked_until=None))
        return bool(done.rowcount)

    def remove(self, ref: MailboxRef) -> bool:
        with self._engine.begin() as conn:
            return bool(conn.execute(delete(phone_pins).where(_key(ref))).rowcount)
