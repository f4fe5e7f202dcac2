"""SqlHotdeskStore: the times of extension-mobility sign-ins in the ``hotdesk_sessions`` table, per site.

AstDB (family ``voicemail-em``) holds only device -> extension, with no time we could trust; this table
records when each sign-in began and when and how it ended, for automatic sign-out and the user's
call-history page.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, insert, select, update
from sqlalchemy.engine import Engine

from voicemail.domain.models import MailboxRef
from voicemail.phone.tables import hotdesk_sessions as t


@dataclass(frozen=True)
class DeskSession:
    id: int
    device: str
    mailbox: MailboxRef
    signed_in_at: float
    signed_out_at: float | None
    ended_by: str


class SqlHotdeskStore:
    """The sign-ins on the devices of one site (``site``, the Asterisk whose AstDB routes them; empty: the
    default site ``default_site``). ``history`` reads every site's: a mailbox names its own site."""

    def __init__(self, engine: Engine, site: str = "", default_site: str = "default") -> None:
        self._engine = engine
        self._default_site = default_site
        self._site = site or default_site

    def _row(self, r: object) -> DeskSession:
        site = "" if r.site == self._default_site else r.site  # type: ignore[attr-defined]
        return DeskSession(r.id, r.device, MailboxRef(r.context, r.mailbox, site),  # type: ignore[attr-defined]
                           r.signed_in_at, r.signed_out_at, r.ended_by)  # type: ignore[attr-defined]

    def _open(self, device: str) -> ColumnElement[bool]:
        return and_(t.c.site == self._site, t.c.device == device, t.c.signed_out_at.is_(None))

    def open(self, device: str, ref: MailboxRef, now: float, source: str) -> int:
        with self._engine.begin() as conn:
            done = conn.execute(insert(t).values(site=self._site, device=device, context=ref.context,
                                                 mailbox=ref.mailbox, signed_in_at=now, signed_out_at=None, ended_by="",
                                                 source=source[:200]))
            return int(done.inserted_primary_key[0])  # type: ignore[index]

    def current(self, device: str) -> DeskSession | None:
        """The device's open sign-in (the newest, should a crash have left two)."""
        with self._engine.connect() as conn:
            r = conn.execute(select(t).where(self._open(device))
                             .order_by(t.c.signed_in_at.desc()).limit(1)).first()
        return self._row(r) if r is not None else None

    def close(self, device: str, now: float, ended_by: str) -> list[DeskSession]:
        """End every open sign-in of the device; returns them as they were."""
        with self._engine.begin() as conn:
            rows = conn.execute(select(t).where(self._open(device))
                                .with_for_update()).all()
            if rows:
                conn.execute(update(t).where(t.c.id.in_([r.id for r in rows]))
                             .values(signed_out_at=now, ended_by=ended_by))
        return [self._row(r) for r in rows]

    def open_since_before(self, cutoff: float) -> list[DeskSession]:
        """Open sign-ins that began before ``cutoff``."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(t).where(and_(t.c.site == self._site, t.c.signed_out_at.is_(None),
                                                   t.c.signed_in_at < cutoff))
                                .order_by(t.c.signed_in_at)).all()
        return [self._row(r) for r in rows]

    def history(self, refs: tuple[MailboxRef, ...], limit: int = 50) -> list[DeskSession]:
        """The mailboxes' sign-ins, newest first."""
        if not refs:
            return []
        keys = [and_(t.c.site == (r.site or self._default_site), t.c.context == r.context, t.c.mailbox == r.mailbox)
                for r in refs]
        from sqlalchemy import or_

        with self._engine.connect() as conn:
            rows = conn.execute(select(t).where(or_(*keys)).order_by(t.c.signed_in_at.desc(), t.c.id.desc())
                                .limit(limit)).all()
        return [self._row(r) for r in rows]
