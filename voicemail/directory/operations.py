"""Operator-facing directory actions, shared by the CLI, the Celery task and `voicemail run`: sync, the
schedule without a broker, status."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.migrate import upgrade
from voicemail.directory.db_directory import DbDirectory
from voicemail.directory.from_settings import directory_store, directory_sync, number_plan
from voicemail.directory.records import SyncState, SyncSummary
from voicemail.domain.errors import VoicemailError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from voicemail.config import Settings

log = logging.getLogger(__name__)


def run_sync(settings: Settings, *, full: bool = False, engine: Engine | None = None,
             progress: Callable[[int], None] | None = None, migrate: bool = True) -> SyncSummary:
    """One directory sync into the settings' database (migrated first unless ``migrate`` is False)."""
    own = engine is None
    engine = engine or make_engine(settings.database_url)
    try:
        if migrate:
            upgrade(engine, settings.site_name)
        return directory_sync(settings, make_sessionmaker(engine)).run(full=full, progress=progress)
    finally:
        if own:
            engine.dispose()


async def run_sync_schedule(settings: Settings, engine: Engine) -> None:
    """The directory schedule for `voicemail run` with the embedded transport (no `voicemail beat`): a sync
    at start, then one every ldap_sync_interval seconds, until cancelled. Failures are logged and retried
    at the next interval; the synced copy stays trusted for directory_max_age meanwhile."""
    while True:
        try:
            await asyncio.to_thread(run_sync, settings, engine=engine, migrate=False)
        except VoicemailError as exc:
            log.warning("directory sync did not complete: %s", exc)
        except Exception as exc:  # e.g. the database is down; the reason is in the sync state, not in the log
            log.warning("directory sync did not complete: %s", type(exc).__name__)
        await asyncio.sleep(settings.ldap_sync_interval)


def estimated_users(settings: Settings, engine: Engine) -> int:
    return directory_store(make_sessionmaker(engine)).counts()["users"]


@dataclass(frozen=True)
class DirectoryStatus:
    state: SyncState | None
    counts: dict[str, int]
    problem: str | None  # why the copy is not trusted now, None = trusted

    def lines(self, now: dt.datetime) -> list[str]:
        s = self.state

        def when(value: dt.datetime | None) -> str:
            if value is None:
                return "never"
            return f"{value.isoformat(timespec='seconds')} ({(now - value).total_seconds() / 60:.0f} min ago)"

        out = [f"users: {self.counts['users']}  active: {self.counts['active']}  numbers: {self.counts['numbers']}",
               f"last successful sync: {when(s.last_success_at if s else None)}",
               f"last full sync: {when(s.last_full_at if s else None)}",
               "trusted for classification: " + ("yes" if self.problem is None else f"NO - {self.problem}")]
        if s is not None and s.running_since is not None:
            out.append(f"a sync is running since {when(s.running_since)}")
        if s is not None and s.last_error:
            out.append(f"last error: {s.last_error}")
        return out


def status(settings: Settings, engine: Engine | None = None) -> DirectoryStatus:
    own = engine is None
    engine = engine or make_engine(settings.database_url)
    try:
        upgrade(engine, settings.site_name)
        store = directory_store(make_sessionmaker(engine))
        state = store.state()
        checker = DbDirectory(store, number_plan(settings), max_age=settings.directory_max_age)
        return DirectoryStatus(state, store.counts(), checker.staleness(state))
    finally:
        if own:
            engine.dispose()
