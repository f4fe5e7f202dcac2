"""Finding messages for administrators (`voicemail messages list`): metadata only, never caller data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload, sessionmaker

from voicemail.db.models import MessageRow
from voicemail.domain.models import MailboxRef


@dataclass(frozen=True)
class MessageSummary:
    """One message as an administrator may see it: ids, place, state and times. The caller appears only
    as its kind (internal / external), never as a name or number."""

    id: str  # our message id (the web, e-mail, audit trail and evidence use it)
    mailbox: str
    msg_id: str  # Asterisk's msg_id
    folder: str
    state: str
    caller_kind: str
    duration: int
    urgent: bool
    attempts: int
    received_at: dt.datetime
    updated_at: dt.datetime


def list_messages(reads: sessionmaker[Session], *, mailbox: MailboxRef | None = None, state: str | None = None,
                  limit: int = 50, default_site: str = "default") -> list[MessageSummary]:
    """Newest first (by when Asterisk recorded them), optionally of one mailbox and/or one state. A mailbox
    of another site than ``default_site`` is named with its site: 1001@default@branch."""
    query = select(MessageRow).options(lazyload(MessageRow.recordings))
    if mailbox is not None:
        query = query.where(MessageRow.site == (mailbox.site or default_site), MessageRow.context == mailbox.context,
                            MessageRow.mailbox == mailbox.mailbox)
    if state is not None:
        query = query.where(MessageRow.state == state)
    with reads() as s:
        rows = s.scalars(query.order_by(MessageRow.origtime.desc(), MessageRow.id).limit(max(1, limit))).all()
        return [MessageSummary(id=r.id, mailbox=MailboxRef(r.context, r.mailbox, "" if r.site == default_site else
                                                           r.site).qualified, msg_id=r.msg_id, folder=r.folder,
                               state=r.state, caller_kind=r.caller_kind, duration=r.duration, urgent=r.urgent,
                               attempts=r.attempts, received_at=dt.datetime.fromtimestamp(r.origtime, dt.UTC),
                               updated_at=r.updated_at) for r in rows]
