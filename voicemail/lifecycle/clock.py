"""Before retention destroys anything, this host's clock must agree with the database's.

Retention computes every cutoff from "now". A host clock that jumped ahead (a bad NTP source, a wrong
manual setting, a restored VM snapshot) would make young messages look old and destroy them for good.
So a run first reads the database server's clock and refuses, destroying nothing, when the two differ by
more than ``retention_max_clock_skew`` seconds:

* PostgreSQL: ``clock_timestamp()`` of the server (another host in production, kept by its own NTP).
* SQLite: ``julianday('now')``, which SQLite computes from the clock of the very host it runs on, so it
  can only catch a process clock that differs from the host's (an injected or faked clock); it cannot
  catch a wrong host clock. Sites that rely on this guard use PostgreSQL.

A refusal raises ClockSkewError (the CLI exits non-zero, the scheduled task fails and is retried at the
next run), logs an ERROR without personal data and writes the audit event ``retention.refused``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine

from voicemail.audit.chain import AuditEvent
from voicemail.audit.store import AuditLog
from voicemail.domain.errors import VoicemailError

log = logging.getLogger(__name__)

Clock = Callable[[], float]
_UNIX_EPOCH_JULIAN_DAY = 2440587.5


class ClockSkewError(VoicemailError):
    """This host's clock and the database's disagree: retention refuses to destroy anything."""


def database_clock(engine: Engine) -> Clock:
    """The database server's clock, in epoch seconds (see the module text for SQLite)."""
    if engine.dialect.name == "postgresql":
        query = text("SELECT extract(epoch FROM clock_timestamp())")
    else:
        query = text(f"SELECT (julianday('now') - {_UNIX_EPOCH_JULIAN_DAY}) * 86400.0")

    def now() -> float:
        with engine.connect() as conn:
            return float(conn.execute(query).scalar_one())

    return now


def check_clocks(host_now: float, db_now: float, max_skew: float) -> float:
    """The skew in seconds (host minus database); ClockSkewError when it exceeds ``max_skew`` (0 = off)."""
    skew = host_now - db_now
    if max_skew > 0 and abs(skew) > max_skew:
        direction = "ahead of" if skew > 0 else "behind"
        raise ClockSkewError(
            f"retention refused, nothing was destroyed: this host's clock is {abs(skew):.0f} s {direction} the "
            f"database's (more than retention_max_clock_skew = {max_skew:.0f} s). Correct the clock (NTP) and "
            "run again.")
    return skew


def guard_clock(host: Clock, database: Clock, max_skew: float, audit: AuditLog, *, actor: str, source: str) -> None:
    """Refuse (audited, logged) when ``host()`` and ``database()`` disagree by more than ``max_skew``."""
    host_now, db_now = host(), database()
    try:
        check_clocks(host_now, db_now, max_skew)
    except ClockSkewError:
        log.error("ALERT retention refused: host clock %.0f s off the database clock (limit %.0f s); "
                  "nothing destroyed", host_now - db_now, max_skew)
        audit.append(AuditEvent(actor=actor, action="retention.refused", source=source, outcome="denied",
                                reason="host clock disagrees with the database clock",
                                details={"host_clock": round(host_now, 3), "database_clock": round(db_now, 3),
                                         "skew_seconds": round(host_now - db_now, 3), "max_skew_seconds": max_skew}))
        raise
