"""Fixtures of the site tests: ``engine``, an empty database on SQLite and on PostgreSQL, for the migration
tests (a test file that needs another database defines its own ``engine``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.conftest import fresh_pg_database
from voicemail.db.engine import make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database (no schema yet), once on SQLite and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield made
        made.dispose()
        return
    with fresh_pg_database("vm_site_migration") as url:
        made = make_engine(url)
        yield made
        made.dispose()
