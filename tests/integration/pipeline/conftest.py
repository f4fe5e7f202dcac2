"""The pipeline tests' site: the stand-in with real spool files, a fresh PostgreSQL database and Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.pipeline.harness import Site


@pytest.fixture
def site(tmp_path: Path, pg_url: str, redis_url: str):  # type: ignore[no-untyped-def]
    s = Site(tmp_path / "site", database_url=pg_url, broker_url=redis_url)
    s.prepare()
    s.start_standin()
    yield s
    s.stop_all()
