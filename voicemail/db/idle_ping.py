"""Test a pooled connection before use only when it sat idle in the pool.

SQLAlchemy's ``pool_pre_ping`` sends a ``SELECT 1`` at every checkout: one more round trip, and one more
transaction on the server, for every transaction the service makes (a custody batch makes a dozen in a
few milliseconds). Here a connection is tested only when it was last returned to the pool more than
``after`` seconds ago, or was never used; a failed test discards it and the pool opens a new one
(``DisconnectionError``), as ``pool_pre_ping`` does. A connection that broke within ``after`` seconds of
its last use fails at its first statement instead; SQLAlchemy then discards the pool's connections, and
the caller's retry (a task's, the listener's, the next web request) gets a fresh one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

_RETURNED = "voicemail_returned_at"


def ping_when_idle(engine: Engine, after: float, clock: Callable[[], float] = time.monotonic) -> None:
    """Install the test on ``engine``'s pool (``after`` seconds idle; 0 tests at every checkout)."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED] = clock()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is not None and clock() - returned < after:
            return
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            if not getattr(dbapi_conn, "autocommit", False):
                dbapi_conn.rollback()  # end the transaction the test opened; the caller starts its own
        except Exception as exc:
            raise DisconnectionError("pooled connection failed its test after sitting idle") from exc
