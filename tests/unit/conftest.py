"""Fixtures of the unit tests: ``db_url``, an empty SQLite file in the test's temp folder, and ``store``, the
message store on it migrated to the newest schema (a test file that needs another store defines its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from voicemail.db.engine import make_store_sessions
from voicemail.db.migrate import upgrade
from voicemail.db.repository import SqlMessageStore


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'vm.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[SqlMessageStore]:
    engine, reads, sessions, read_sessions = make_store_sessions(db_url)
    upgrade(engine)
    yield SqlMessageStore(sessions, read_sessions)
    engine.dispose()
    reads.dispose()
