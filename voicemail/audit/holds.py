"""Legal holds: a mailbox, a time range (of one mailbox or all), or single messages, tied to a case.

``is_held`` / ``ensure_not_held`` are the guard every deletion path (owner delete, retention, quota
eviction) must call. Holds are never shown to the mailbox owner; placing and releasing them is audited.

A hold may name a site (one Asterisk of several): it then covers only that site's messages. A hold that
names none (every hold placed before holds had a site) covers its mailbox, or its time range, on every site.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine, RowMapping

from voicemail.audit.access import Access, Actor
from voicemail.audit.chain import AuditEvent
from voicemail.audit.errors import HeldError
from voicemail.audit.store import utc_now_iso
from voicemail.audit.tables import holds
from voicemail.domain.errors import InvalidInput, NotFound
from voicemail.domain.models import MailboxRef, check_name
from voicemail.domain.records import MessageRecord

SCOPES = ("mailbox", "range", "message")


@dataclass(frozen=True)
class Hold:
    id: str
    case_id: str
    scope: str
    mailbox: MailboxRef | None
    message_id: str | None
    start_at: int | None  # epoch seconds, inclusive
    end_at: int | None  # epoch seconds, exclusive
    site: str | None = None  # the site whose messages it covers (its name); None: every site


def hold_of(row: RowMapping) -> Hold:
    """A Hold from a row of the ``holds`` table."""
    return Hold(row["id"], row["case_id"], row["scope"],
                MailboxRef(row["context"], row["mailbox"]) if row["mailbox"] else None,
                row["message_id"], row["start_at"], row["end_at"], row["site"] or None)


def covers(hold: Hold, message: MessageRecord, default_site: str = "default") -> bool:
    """Pure: does this active hold apply to the message? ``default_site``: the site a message's mailbox
    without a site is on (site_name)."""
    if hold.scope == "message":
        return hold.message_id == message.id
    # a hold without a site covers its mailbox (or range) on every site: holding too much, never too little
    if hold.site is not None and hold.site != (message.mailbox.site or default_site):
        return False
    if hold.mailbox is not None and (hold.mailbox.context, hold.mailbox.mailbox) != (message.mailbox.context,
                                                                                     message.mailbox.mailbox):
        return False
    if hold.scope == "mailbox":
        return True
    after_start = hold.start_at is None or message.origtime >= hold.start_at
    before_end = hold.end_at is None or message.origtime < hold.end_at
    return after_start and before_end


class Holds:
    def __init__(self, engine: Engine, access: Access, default_site: str = "default") -> None:
        """``default_site``: the default site's name (site_name), the site of a mailbox named without one."""
        self._engine = engine
        self._access = access
        self._default_site = default_site

    def active(self) -> list[Hold]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(holds).where(holds.c.released_at.is_(None))).mappings().all()
        return [hold_of(r) for r in rows]

    def is_held(self, message: MessageRecord) -> bool:
        return any(covers(h, message, self._default_site) for h in self.active())

    def ensure_not_held(self, message: MessageRecord) -> None:
        """Raise HeldError when the message may not be deleted (the reason names no case: owners ask)."""
        if self.is_held(message):
            raise HeldError(f"message {message.id} cannot be deleted now")

    def unheld(self, messages: Iterable[MessageRecord]) -> list[MessageRecord]:
        """The messages retention or quota eviction may remove (held ones are skipped)."""
        active = self.active()
        return [m for m in messages if not any(covers(h, m, self._default_site) for h in active)]

    def _site_of(self, mailbox: MailboxRef | None, site: str | None) -> str | None:
        """The site a new hold names: ``site``, or the one the mailbox names (``1001@default@branch``);
        None when neither does (every site)."""
        named = mailbox.site if mailbox is not None and mailbox.site else None
        if site and named and site != named:
            raise InvalidInput(f"the mailbox names site {named!r} but --site says {site!r}")
        return site or named

    def place(self, actor: Actor, case_id: str, scope: str, *, mailbox: MailboxRef | None = None,
              message_ids: Sequence[str] = (), start_at: int | None = None, end_at: int | None = None,
              reason: str = "", site: str | None = None) -> list[str]:
        """Place holds (one per message id for scope "message"). ``site``: only that site's messages are
        covered (a mailbox may name it too, ``1001@default@branch``); None: the mailbox or range on every
        site. A message hold names its message, whatever its site."""
        if scope not in SCOPES:
            raise InvalidInput(f"unknown hold scope {scope!r} (mailbox, range or message)")
        if scope == "mailbox" and mailbox is None:
            raise InvalidInput("a mailbox hold needs --mailbox")
        if scope == "message" and not message_ids:
            raise InvalidInput("a message hold needs at least one message id")
        if scope == "range" and start_at is None and end_at is None:
            raise InvalidInput("a time-range hold needs a start or an end")
        if scope == "message" and site:
            raise InvalidInput("a message hold names its message, whatever its site: --site is for mailbox and "
                               "time-range holds")
        on_site = None if scope == "message" else self._site_of(mailbox, site)
        if on_site is not None:
            check_name(on_site, "site")
        self._access.require_member(actor, case_id, "hold.place")
        targets: list[str | None] = list(message_ids) if scope == "message" else [None]
        ids: list[str] = []
        with self._engine.begin() as conn:
            for target in targets:
                hold_id = str(uuid.uuid4())
                conn.execute(insert(holds).values(
                    id=hold_id, case_id=case_id, scope=scope, context=mailbox.context if mailbox else None,
                    mailbox=mailbox.mailbox if mailbox else None, site=on_site, message_id=target,
                    start_at=start_at, end_at=end_at, placed_by=actor.name, placed_at=utc_now_iso()))
                self._access.audit.append(AuditEvent(
                    actor=actor.name, action="hold.place", source=actor.source, reason=reason, case_id=case_id,
                    message_id=target, details={"hold": hold_id, "scope": scope,
                                                "mailbox": str(mailbox) if mailbox else None,
                                                **({"site": on_site} if on_site else {}),
                                                "start_at": start_at, "end_at": end_at}), conn)
                ids.append(hold_id)
        return ids

    def release(self, actor: Actor, hold_id: str, reason: str = "") -> None:
        with self._engine.connect() as conn:
            row = conn.execute(select(holds.c.case_id, holds.c.message_id)
                               .where(holds.c.id == hold_id, holds.c.released_at.is_(None))).first()
        if row is None:
            raise NotFound(f"no active hold {hold_id}")
        self._access.require_member(actor, row.case_id, "hold.release")
        with self._engine.begin() as conn:
            conn.execute(update(holds).where(holds.c.id == hold_id).values(released_by=actor.name,
                                                                           released_at=utc_now_iso()))
            self._access.audit.append(AuditEvent(actor=actor.name, action="hold.release", source=actor.source,
                                                 reason=reason, case_id=row.case_id, message_id=row.message_id,
                                                 details={"hold": hold_id}), conn)
