"""Engine and session factory from a database URL (SQLite tuned for concurrent workers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from voicemail.domain.errors import ConfigError


def describe_database(url: str) -> str:
    """Where a database URL points, for messages: the SQLite file, or the URL without its password."""
    if url.startswith("sqlite"):
        return url.split("///", 1)[-1] or ":memory:"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: say so without echoing it (it may hold a password)
        return "(unparsable database_url)"


def make_engine(url: str, *, autocommit: bool = False) -> Engine:
    """``autocommit=True`` gives a separate pool for single-statement reads (no BEGIN / ROLLBACK)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"setting database_url: cannot create the folder of the database {path}: "
                                  f"{exc.strerror}") from None
            _create_private(path)
        engine = create_engine(url, connect_args={"timeout": 30},
                               **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}))

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}))


def _create_private(path: str) -> None:
    """Create a new database file 0600 before SQLite does (it would use 0644 under the usual umask).
    SQLite gives the -wal and -shm files the mode of the database file, so they are 0600 too. It holds
    password hashes, outside callers' numbers and the audit trail. An existing file keeps its mode."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_store_sessions(url: str) -> tuple[Engine, Engine, sessionmaker[Session], sessionmaker[Session]]:
    """Two pools on one database: transactions, and autocommit reads."""
    engine = make_engine(url)
    reads = make_engine(url, autocommit=True)
    return engine, reads, make_sessionmaker(engine), make_sessionmaker(reads)
