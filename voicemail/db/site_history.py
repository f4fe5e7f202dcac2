"""Whether the database has ever served a site: a message of it, an import run of it, or its listener lease.

`voicemail run` asks this at start-up (voicemail.services.first_start): a site with none of the three was
never served, so a spool full of messages is a backlog nobody has taken custody of yet.
"""

from __future__ import annotations

from sqlalchemy import Engine, exists, select

from voicemail.db.models import ImportRunRow, ListenerLeaseRow, MessageRow


class SiteHistory:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def served_before(self, site: str) -> bool:
        """True when a message of ``site`` is on record, an import run of it exists (any state), or a
        listener has held its lease (a stand-by, or a restart after a first run)."""
        query = select(exists().where(MessageRow.site == site)
                       | exists().where(ImportRunRow.site == site)
                       | exists().where(ListenerLeaseRow.site == site))
        with self._engine.connect() as conn:
            return bool(conn.execute(query).scalar_one())
