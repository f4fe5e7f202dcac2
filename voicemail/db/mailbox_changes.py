"""Which mailboxes had a message change recently: for the web's new-message feed.

One indexed range query on ``messages.updated_at`` per call, whatever the number of open inboxes. The
timestamps are the ones the workers wrote; a look-back window absorbs workers whose clocks run a little
behind the web process's latest marker (a message changed "in the past" is still noticed).
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from voicemail.db.models import MessageRow
from voicemail.domain.models import MailboxRef

LOOK_BACK = dt.timedelta(seconds=10)


class SqlMailboxChanges:
    def __init__(self, engine: Engine, look_back: dt.timedelta = LOOK_BACK, default_site: str = "default") -> None:
        """``default_site``: mailboxes of this site are named without a site (as web accounts name them)."""
        self._engine = engine
        self._default_site = default_site
        self._look_back = look_back
        self._marker: dt.datetime | None = None
        self._seen: dict[MailboxRef, dt.datetime] = {}  # newest change seen per mailbox, inside the window
        self._last_call = 0.0

    def changed(self) -> set[MailboxRef]:
        """Mailboxes with a change since the previous call. After a pause longer than the look-back (nobody
        was waiting) it starts again from the newest change, naming those of the last look-back window."""
        now = time.monotonic()
        stale, self._last_call = now - self._last_call > self._look_back.total_seconds(), now
        with self._engine.connect() as conn:
            if self._marker is None or stale:
                newest = conn.execute(select(func.max(MessageRow.updated_at))).scalar()
                self._marker = _aware(newest) if newest is not None else dt.datetime.now(dt.UTC)
                self._seen = {}
            since = self._marker - self._look_back
            rows = conn.execute(
                select(MessageRow.site, MessageRow.context, MessageRow.mailbox, func.max(MessageRow.updated_at))
                .where(MessageRow.updated_at > since)
                .group_by(MessageRow.site, MessageRow.context, MessageRow.mailbox)).all()
        changed: set[MailboxRef] = set()
        for site, context, mailbox, newest in rows:
            ref = MailboxRef(context, mailbox, "" if site == self._default_site else site)
            at = _aware(newest)
            if self._seen.get(ref) != at:
                changed.add(ref)
                self._seen[ref] = at
            if at > self._marker:
                self._marker = at
        floor = self._marker - self._look_back
        self._seen = {ref: at for ref, at in self._seen.items() if at > floor}
        return changed


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
