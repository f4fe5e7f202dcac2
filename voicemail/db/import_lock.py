"""One `voicemail import` per site at a time.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a key derived from the site name,
held by one dedicated connection for the whole run. The server drops it when that connection ends, so a
killed import (SIGKILL, a lost machine) never leaves it behind and its rerun can start at once.

SQLite (one machine): an exclusive ``flock`` on a file beside the database file, named after the site;
the kernel drops it when the process ends. An in-memory database is private to its process: no lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine


def _key(site: str) -> int:
    """The site's advisory lock key: a signed 64-bit number from the SHA-256 of its name."""
    digest = hashlib.sha256(f"voicemail import {site}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_file(database_path: str, site: str) -> Path:
    """The SQLite lock file of the site's imports, beside the database file."""
    name = hashlib.sha256(site.encode()).hexdigest()[:16]
    return Path(f"{database_path}.import-{name}.lock")


class ImportLock:
    def __init__(self, engine: Engine, site: str) -> None:
        self._engine, self._site = engine, site
        self._conn: Connection | None = None
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the site's import lock; False (at once, no wait) when another import holds it."""
        if self._engine.dialect.name == "postgresql":
            conn = self._engine.connect()
            try:
                held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _key(self._site)})
                            .scalar_one())
                conn.commit()  # idle, not idle in a transaction, while it holds the lock
            except BaseException:
                conn.invalidate()
                conn.close()
                raise
            if not held:
                conn.close()
                return False
            self._conn = conn
            return True
        path = self._engine.url.database or ""
        if self._engine.dialect.name != "sqlite" or path in ("", ":memory:") or path.startswith("file:"):
            return True
        fd = os.open(lock_file(path, self._site), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def held(self) -> bool:
        """Whether the lock is still this import's. PostgreSQL drops a session's advisory lock with its
        connection (a restarted server, a terminated backend, a cut network): then another import could
        take the site while this one goes on. A flock, or no lock at all (in-memory SQLite), holds."""
        if self._conn is None:
            return True
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:
            return False

    def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _key(self._site)})
                conn.commit()
            except Exception:  # the connection is gone, and the lock with it; never pool it with the lock
                conn.invalidate()
            conn.close()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # drops the flock
