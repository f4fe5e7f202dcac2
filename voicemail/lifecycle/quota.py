"""The vault quota: after a new message is sealed, destroy the oldest unheld messages until under quota.

Usage is the plaintext size of the sealed recordings (``recordings.size``) of messages that are not
destroyed, for the site and (optionally) per mailbox. The new message is never destroyed for quota;
when only held messages (or none) are left to destroy, the new message is kept and an alert is
raised: an ERROR log line without personal data, an audit event (``quota.alert``) and a row in
``quota_alerts`` (`voicemail quota alerts`). Destruction goes through the Shredder (each audited).
One enforcement at a time (lease ``quota``), so two seals finishing together do not both evict.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from voicemail.audit.chain import AuditEvent
from voicemail.audit.holds import Holds
from voicemail.audit.store import AuditLog, utc_now_iso
from voicemail.db.models import MessageRow, RecordingRow
from voicemail.domain.errors import VoicemailError
from voicemail.domain.models import Caller, MailboxRef
from voicemail.domain.ports import Shredder
from voicemail.domain.records import SEALED, STRIPPED, MessageRecord
from voicemail.lifecycle.lease import leased
from voicemail.lifecycle.tables import quota_alerts

log = logging.getLogger(__name__)
messages = cast(Table, MessageRow.__table__)
recordings = cast(Table, RecordingRow.__table__)
LIVE = (SEALED, STRIPPED)


@dataclass(frozen=True)
class QuotaResult:
    scope: str  # site | mailbox
    used_before: int
    used_after: int
    limit: int
    destroyed: tuple[str, ...]
    alert_id: str | None  # set when still over quota (only held messages left)


@dataclass(frozen=True)
class Alert:
    id: str
    created_at: str
    scope: str
    mailbox: str | None
    message_id: str
    used_bytes: int
    limit_bytes: int
    resolved_at: str | None


class QuotaEnforcer:
    def __init__(self, engine: Engine, holds: Holds, shredder: Shredder, audit: AuditLog, *, site_bytes: int,
                 mailbox_bytes: int, actor: str = "quota", source: str = "voicemail",
                 default_site: str = "default") -> None:
        """``default_site``: site_name; an alert names a mailbox of another site with its site."""
        self._engine = engine
        self._default_site = default_site
        self._holds = holds
        self._shredder = shredder
        self._audit = audit
        self._site = site_bytes
        self._mailbox = mailbox_bytes
        self._actor = actor
        self._source = source

    def usage(self, mailbox: MailboxRef | None = None) -> int:
        query = (select(func.coalesce(func.sum(recordings.c.size), 0))
                 .select_from(recordings.join(messages, messages.c.id == recordings.c.message_id))
                 .where(self._scope(mailbox), messages.c.state.in_(LIVE)))
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    @staticmethod
    def _scope(mailbox: MailboxRef | None) -> ColumnElement[bool]:
        if mailbox is None:
            return messages.c.id.is_not(None)
        same = (messages.c.context == mailbox.context) & (messages.c.mailbox == mailbox.mailbox)
        return (same & (messages.c.site == mailbox.site)) if mailbox.site else same  # a mailbox of one site

    def _oldest(self, mailbox: MailboxRef | None, keep: str, batch: int = 200) -> Iterator[tuple[MessageRecord, int]]:
        """Live messages of the scope, oldest first (by when they were left), with their sizes."""
        after: tuple[int, str] = (-(1 << 62), "")
        size = func.coalesce(func.sum(recordings.c.size), 0).label("size")
        while True:
            query = (select(messages.c.id, messages.c.site, messages.c.context, messages.c.mailbox,
                            messages.c.msg_id, messages.c.state, messages.c.folder, messages.c.origtime, size)
                     .select_from(messages.outerjoin(recordings, recordings.c.message_id == messages.c.id))
                     .where(self._scope(mailbox), messages.c.state.in_(LIVE), messages.c.id != keep,
                            (messages.c.origtime > after[0])
                            | ((messages.c.origtime == after[0]) & (messages.c.id > after[1])))
                     .group_by(messages.c.id, messages.c.site, messages.c.context, messages.c.mailbox,
                               messages.c.msg_id, messages.c.state, messages.c.folder, messages.c.origtime)
                     .order_by(messages.c.origtime, messages.c.id).limit(batch))
            with self._engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            after = (int(rows[-1].origtime), str(rows[-1].id))
            for r in rows:
                yield MessageRecord(id=r.id, mailbox=MailboxRef(r.context, r.mailbox, r.site), msg_id=r.msg_id,
                                    state=r.state, folder=r.folder, origtime=int(r.origtime), duration=0,
                                    urgent=False, caller=Caller.external(), wrapped_key=None,
                                    recordings=()), int(r.size)

    def _unheld_oldest(self, mailbox: MailboxRef | None, keep: str) -> Iterator[tuple[MessageRecord, int]]:
        batch: list[tuple[MessageRecord, int]] = []
        for item in self._oldest(mailbox, keep):
            batch.append(item)
            if len(batch) == 50:
                yield from self._unheld(batch)
                batch = []
        yield from self._unheld(batch)

    def _unheld(self, batch: list[tuple[MessageRecord, int]]) -> list[tuple[MessageRecord, int]]:
        free = {m.id for m in self._holds.unheld(m for m, _ in batch)}
        return [item for item in batch if item[0].id in free]

    def after_seal(self, message_id: str) -> list[QuotaResult]:
        """Enforce the site quota, then the mailbox quota of ``message_id``'s mailbox."""
        if not self._site and not self._mailbox:
            return []
        with self._engine.connect() as conn:
            row = conn.execute(select(messages.c.site, messages.c.context, messages.c.mailbox)
                               .where(messages.c.id == message_id)).first()
        if row is None:
            return []
        results = []
        with leased(self._engine, "quota", ttl=120.0, wait=60.0):
            if self._site:
                results.append(self._enforce(None, self._site, message_id))
            if self._mailbox:
                results.append(self._enforce(MailboxRef(row.context, row.mailbox, row.site), self._mailbox,
                                             message_id))
        return results

    def _enforce(self, mailbox: MailboxRef | None, limit: int, new_id: str) -> QuotaResult:
        scope = "site" if mailbox is None else "mailbox"
        used = before = self.usage(mailbox)
        destroyed: list[str] = []
        if used > limit:
            reason = f"quota: {scope} vault over {limit} bytes (oldest unheld first)"
            for record, size in self._unheld_oldest(mailbox, new_id):
                if used <= limit:
                    break
                try:
                    outcome = self._shredder.shred(record.id, actor=self._actor, source=self._source, reason=reason)
                except VoicemailError as exc:
                    log.error("quota: message %s could not be destroyed: %s", record.id, type(exc).__name__)
                    continue
                if outcome in ("destroyed", "started"):  # started: its key is gone, its site ends the rest
                    destroyed.append(record.id)
                    used -= size
            used = self.usage(mailbox)
        alert = self._alert(scope, mailbox, new_id, used, limit) if used > limit else None
        return QuotaResult(scope, before, used, limit, tuple(destroyed), alert)

    def _alert(self, scope: str, mailbox: MailboxRef | None, new_id: str, used: int, limit: int) -> str:
        alert_id = str(uuid.uuid4())
        with self._engine.begin() as conn:
            conn.execute(insert(quota_alerts).values(
                id=alert_id, created_at=utc_now_iso(), scope=scope, context=mailbox.context if mailbox else None,
                mailbox=mailbox.mailbox if mailbox else None, message_id=new_id, used_bytes=used, limit_bytes=limit))
            self._audit.append(AuditEvent(
                actor=self._actor, action="quota.alert", source=self._source, outcome="error", message_id=new_id,
                reason="over quota with only held messages left; the new message was kept",
                details={"alert": alert_id, "scope": scope,
                         "mailbox": _named(mailbox, self._default_site) if mailbox else None,
                         "used_bytes": used, "limit_bytes": limit}), conn)
        log.error("vault quota exceeded (%s scope, %d of %d bytes): only held messages remain, the new message "
                  "was kept; alert %s (`voicemail quota alerts`)", scope, used, limit, alert_id)
        return alert_id


def _named(mailbox: MailboxRef, default_site: str) -> str:
    """1001@default, or 1001@default@branch on another site than the default one."""
    return mailbox.on_site("" if mailbox.site == default_site else mailbox.site).qualified


def list_alerts(engine: Engine, *, open_only: bool = True, default_site: str = "default") -> list[Alert]:
    """Newest first. quota_alerts has no site column: a mailbox alert's site is that of the message it was
    raised for (the new message of that mailbox, kept); a mailbox of another site than ``default_site`` is
    named with it (1001@default@branch). Should that message's row be gone, the mailbox is named without."""
    query = (select(quota_alerts, messages.c.site)
             .select_from(quota_alerts.outerjoin(messages, messages.c.id == quota_alerts.c.message_id))
             .order_by(quota_alerts.c.created_at.desc()))
    if open_only:
        query = query.where(quota_alerts.c.resolved_at.is_(None))
    with engine.connect() as conn:
        rows: list[Any] = list(conn.execute(query).all())
    return [Alert(r.id, r.created_at, r.scope,
                  _named(MailboxRef(r.context, r.mailbox, r.site or ""), default_site) if r.mailbox else None,
                  r.message_id, int(r.used_bytes), int(r.limit_bytes), r.resolved_at) for r in rows]


def resolve_alert(engine: Engine, alert_id: str) -> bool:
    with engine.begin() as conn:
        done = conn.execute(update(quota_alerts).where(quota_alerts.c.id == alert_id,
                                                       quota_alerts.c.resolved_at.is_(None))
                            .values(resolved_at=utc_now_iso()))
    return done.rowcount == 1
