"""A throw-away PostgreSQL database for one benchmark run: created on entry, dropped (forced) on exit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine


@contextmanager
def scratch_database(pg_url: str, prefix: str) -> Iterator[str]:
    """Yield the URL of a new database named ``<prefix>_<random>`` on the server of ``pg_url``."""
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
