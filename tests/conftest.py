"""Shared fixtures: where the captures are, and the real PostgreSQL / Redis of this machine."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Recordings of a real Asterisk 22.10.1, byte-exact (CRLF kept: .gitattributes marks them -text).
CAPTURES = Path(os.environ.get("VOICEMAIL_CAPTURES", REPO / "tests" / "fixtures" / "asterisk-captures"))
PG_ADMIN_URL = os.environ.get("VOICEMAIL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("VOICEMAIL_TEST_REDIS", "redis://127.0.0.1:6379")


@pytest.fixture
def captures() -> Path:
    if not CAPTURES.is_dir():  # they are part of the repository: a missing folder is a broken checkout
        pytest.fail(f"Asterisk captures not found at {CAPTURES} (tests/fixtures, or VOICEMAIL_CAPTURES)")
    return CAPTURES


@contextmanager
def fresh_pg_database(prefix: str = "vm_test") -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the local server (its SQLAlchemy URL), dropped afterwards."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sqlalchemy.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for this test and is not reachable at {PG_ADMIN_URL}: {exc}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database per test (module-scoped sites use fresh_pg_database)."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    redis = pytest.importorskip("redis")
    db = int(os.environ.get("VOICEMAIL_TEST_REDIS_DB", "9"))  # one database per concurrent test run
    client = redis.Redis.from_url(f"{REDIS_URL}/{db}")
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is required for this test and is not reachable at {REDIS_URL}: {exc}")
    return f"{REDIS_URL}/{db}"


PRODUCTION_STATE = Path("/var/lib/voicemail")  # the default of every path setting


@pytest.fixture(autouse=True, scope="session")
def _no_test_writes_the_production_state_folder() -> Iterator[None]:
    """Tests set every path they use; one that fell back to a default would write into /var/lib/voicemail
    of the machine running them. Checked once per run (when the folder was not there before)."""
    existed = PRODUCTION_STATE.exists()
    yield
    if not existed and PRODUCTION_STATE.exists():
        found = sorted(str(p) for p in PRODUCTION_STATE.rglob("*"))[:5]
        pytest.fail(f"a test wrote into {PRODUCTION_STATE} (a default path setting): {found}")
