"""Expiry warnings: one e-mail per mailbox owner when messages will be destroyed within N days.

Each message is announced once (``expiry_warnings``). The e-mail names the mailbox, how many messages
and the earliest date; never a caller (no name, no number, internal or external) and nothing about
legal holds: held messages are announced like the others, so a warning never reveals a hold.
Mail failures are logged and retried at the next run (nothing is recorded for an unsent warning).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from voicemail.audit.store import utc_now_iso
from voicemail.domain.errors import VoicemailError
from voicemail.domain.models import MailboxRef, OutgoingEmail
from voicemail.domain.ports import Mailer
from voicemail.domain.records import MailboxOwner
from voicemail.lifecycle.planner import Planner
from voicemail.lifecycle.tables import expiry_warnings

log = logging.getLogger(__name__)
SUBJECT = "Voice messages will be deleted soon"


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
    def __init__(self, engine: Engine, planner: Planner, owner_of: Callable[[MailboxRef], MailboxOwner | None],
                 mailer: Mailer, *, days: int, sender: str, web_base_url: str) -> None:
        self._engine = engine
        self._planner = planner
        self._owner_of = owner_of
        self._mailer = mailer
        self._days = days
        self._sender = sender
        self._url = web_base_url

    def run(self) -> int:
        """Send the warnings that are due; returns how many e-mails were sent."""
        if self._days <= 0:
            return 0
        now = self._planner.now()
        soon: dict[MailboxRef, list[tuple[str, float]]] = defaultdict(list)
        for plan in self._planner.message_plans(within_days=self._days):
            for item in [*plan.due, *plan.held]:  # held ones too: a warning never reveals a hold
                if item.due_at > now:
                    soon[item.mailbox].append((item.id, item.due_at))
        if not soon:
            return 0
        with self._engine.connect() as conn:
            warned = set(conn.execute(select(expiry_warnings.c.message_id)).scalars())
        sent = 0
        for mailbox, items in soon.items():
            fresh = [(i, at) for i, at in items if i not in warned]
            if not fresh:
                continue
            owner = self._owner_of(mailbox)
            if owner is None or not owner.email:
                continue
            first = dt.datetime.fromtimestamp(min(at for _, at in fresh), dt.UTC)
            try:
                self._mailer.send(compose_warning(owner, len(fresh), first, self._sender, self._url))
            except VoicemailError as exc:
                log.warning("expiry warning for a mailbox could not be sent (%s); retried next run", type(exc).__name__)
                continue
            with self._engine.begin() as conn:
                conn.execute(insert(expiry_warnings), [{"message_id": i, "warned_at": utc_now_iso()} for i, _ in fresh])
            sent += 1
        return sent
