"""The SQLite database holds password hashes, outside callers' numbers and the audit trail: it and its
-wal / -shm files are readable by the service user only, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from voicemail.db.engine import make_engine


def test_sqlite_database_and_its_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "voicemail.sqlite"
    old = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
            modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
        engine.dispose()
    finally:
        os.umask(old)
    assert modes == {p.name: "0o600" for p in files}
