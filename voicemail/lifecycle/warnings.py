"""Expiry warnings: one e-mail per mailbox owner when messages will be destroyed within N days.

Each message is announced once (``expiry_warnings``). The e-mail names the mailbox, how many messages
and the earliest date; never a caller (no name, no number, internal or external) and nothing about
legal holds: held messages are announced like the others, so a warning never reveals a hold.
Mail failures are logged and retried at the next run (nothing is recorded for an unsent warning).

The messages due soon are read a page at a time in mailbox order, the ones already warned left out by the
query (the table of warnings is never read whole): a run holds one page and the unwarned messages of the
mailbox it is on, whose e-mail goes out when the next mailbox begins. Warnings of destroyed messages are
dropped at the start of a run.

A run holds the ``expiry-warnings`` lease: a second run at the same time (the daily task and an operator's
`voicemail retention run`) sends nothing, so no owner gets the same warning twice. The lease is renewed
before each e-mail; a run that lost it stops before sending another.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import uuid
from collections.abc import Callable

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.engine import Engine

from voicemail.audit.store import utc_now_iso
from voicemail.domain.errors import VoicemailError
from voicemail.domain.models import MailboxRef, OutgoingEmail
from voicemail.domain.ports import Mailer
from voicemail.domain.records import DESTROYED, MailboxOwner
from voicemail.lifecycle.lease import Lease, LeaseBusy
from voicemail.lifecycle.planner import Planner, messages
from voicemail.lifecycle.tables import expiry_warnings

log = logging.getLogger(__name__)
SUBJECT = "Voice messages will be deleted soon"
LEASE = "expiry-warnings"


def compose_warning(owner: MailboxOwner, count: int, first: dt.datetime, sender: str,
                    web_base_url: str) -> OutgoingEmail:
    day = f"{first:%Y-%m-%d}"
    box, url = html.escape(owner.mailbox.mailbox), html.escape(web_base_url, quote=True)
    text = (f"{count} voice message(s) in mailbox {owner.mailbox.mailbox} will be deleted on or after {day} "
            "under the records retention policy.\n\n"
            f"Listen to them before then: {web_base_url}\n")
    body = (f"<p>{count} voice message(s) in mailbox {box} will be deleted on or after {day} under the records "
            f"retention policy.</p><p>Listen to them before then: <a href=\"{url}\">{url}</a></p>")
    return OutgoingEmail(notification_id=str(uuid.uuid4()), recipient=owner.email, sender=sender, subject=SUBJECT,
                         text=text, html=body)


class ExpiryWarner:
    """``page``: messages read per query; the run holds one page and the unwarned messages of one mailbox."""

    def __init__(self, engine: Engine, planner: Planner, owner_of: Callable[[MailboxRef], MailboxOwner | None],
                 mailer: Mailer, *, days: int, sender: str, web_base_url: str, page: int = 5000) -> None:
        self._engine = engine
        self._planner = planner
        self._owner_of = owner_of
        self._mailer = mailer
        self._days = days
        self._sender = sender
        self._url = web_base_url
        self._page = page

    def run(self) -> int:
        """Send the warnings that are due; returns how many e-mails were sent (0 when another run holds the
        lease: that run sends them). First forgets the warnings of messages destroyed since (they are never
        due again)."""
        forget_destroyed(self._engine)
        if self._days <= 0:
            return 0
        lease = Lease(self._engine, LEASE)
        if not lease.try_take():
            log.info("expiry warnings skipped: another run is sending them (it holds the lease)")
            return 0
        sent = 0
        try:
            box: _Mailbox | None = None
            for page in self._planner.soon_pages(within_days=self._days, unless=_NOT_WARNED, batch=self._page):
                for item in page:  # held ones too: a warning never reveals a hold
                    if box is None or item.mailbox != box.ref:
                        sent += self._warn(box, lease)
                        box = _Mailbox(item.mailbox, self._owner_of(item.mailbox))
                    box.add(item.id, item.due_at)
            sent += self._warn(box, lease)
        except LeaseBusy:
            log.warning("expiry warnings stopped after %d e-mail(s): the lease expired and another run took it", sent)
        finally:
            lease.release()
        return sent

    def _warn(self, box: _Mailbox | None, lease: Lease) -> int:
        """E-mail the owner of ``box`` about its messages and record them as warned; 1 if sent. LeaseBusy,
        before sending, when another run has taken the lease."""
        if box is None or box.owner is None or box.first is None:
            return 0
        lease.renew()
        first = dt.datetime.fromtimestamp(box.first, dt.UTC)
        try:
            self._mailer.send(compose_warning(box.owner, len(box.ids), first, self._sender, self._url))
        except VoicemailError as exc:
            log.warning("expiry warning for a mailbox could not be sent (%s); retried next run", type(exc).__name__)
            return 0
        warned_at = utc_now_iso()
        with self._engine.begin() as conn:
            for start in range(0, len(box.ids), self._page):
                conn.execute(insert(expiry_warnings),
                             [{"message_id": i, "warned_at": warned_at} for i in box.ids[start:start + self._page]])
        return 1


class _Mailbox:
    """The unwarned messages of one mailbox seen so far in a run: their ids and the earliest due date. An owner
    without an address is nobody to warn: nothing is kept of their messages."""

    def __init__(self, ref: MailboxRef, owner: MailboxOwner | None) -> None:
        self.ref = ref
        self.owner = owner if owner is not None and owner.email else None
        self.ids: list[str] = []
        self.first: float | None = None

    def add(self, message_id: str, due_at: float) -> None:
        if self.owner is None:
            return
        self.ids.append(message_id)
        self.first = due_at if self.first is None else min(self.first, due_at)


_NOT_WARNED = ~exists().where(expiry_warnings.c.message_id == messages.c.id)


def forget_destroyed(engine: Engine) -> int:
    """Drop the warnings of destroyed messages (a tombstone is never due again and keeps its id, so no other
    message can take it), so the table holds the warned messages that still exist; returns how many."""
    gone = select(messages.c.id).where(messages.c.id == expiry_warnings.c.message_id,
                                       messages.c.state == DESTROYED)
    with engine.begin() as conn:
        return conn.execute(delete(expiry_warnings).where(gone.exists())).rowcount
