"""The owners' own notification settings (notification address, time zone) for the notifier.

An adapter over the web accounts table: the enabled account that owns the mailbox (the lowest id
when several share it) decides. A disabled account's choices are ignored.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine

from voicemail.domain.models import MailboxRef
from voicemail.web.tables import web_accounts


class AccountPreferences:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def for_mailbox(self, mailbox: MailboxRef) -> tuple[str, str]:
        key = mailbox.qualified  # 1001@default, or 1001@default@branch on a site other than the default one
        col = web_accounts.c.mailboxes
        query = (select(web_accounts.c.mailboxes, web_accounts.c.notify_address, web_accounts.c.timezone)
                 .where(web_accounts.c.disabled.is_(False),
                        or_(col == key, col.startswith(key + ","), col.endswith("," + key),
                            col.contains("," + key + ",")))
                 .order_by(web_accounts.c.id))
        with self._engine.connect() as conn:
            for row in conn.execute(query):
                if key in row.mailboxes.split(",") and (row.notify_address or row.timezone):
                    return row.notify_address, row.timezone
        return "", ""
