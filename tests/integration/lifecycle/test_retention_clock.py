"""Retention checks this host's clock against the real PostgreSQL server's before destroying anything: a
host clock three years ahead destroys nothing (refused, audited); clocks that agree run as usual."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.unit.lifecycle.support import DAY, Site, keys_of, open_audio, seed
from voicemail.lifecycle.clock import ClockSkewError, database_clock
from voicemail.lifecycle.tables import destruction_records
from voicemail.lifecycle.wiring import Lifecycle

pytestmark = pytest.mark.postgres


def test_the_database_clock_is_the_servers(tmp_path: Path, pg_url: str) -> None:
    c = Site(tmp_path / "site", pg_url).container()
    try:
        assert abs(database_clock(c.engine)() - time.time()) < 60
    finally:
        c.close()


def test_a_host_clock_years_ahead_destroys_nothing(tmp_path: Path, pg_url: str) -> None:
    site = Site(tmp_path / "site", pg_url)
    c = site.container()
    try:
        now = time.time()
        young = [seed(c, age_days=2, now=now), seed(c, age_days=2, now=now, folder="Old")]
        keys_before = keys_of(c)
        blobs_before = sorted(p.name for p in (site.root / "vault").rglob("*") if p.is_file())
        lc = Lifecycle(c, now=lambda: time.time() + 3 * 365 * DAY)  # the database's own clock is real

        with pytest.raises(ClockSkewError, match=r"nothing was destroyed.*ahead of the database"):
            lc.runner("retention", "test").run()

        assert keys_of(c) == keys_before
        assert sorted(p.name for p in (site.root / "vault").rglob("*") if p.is_file()) == blobs_before
        for message_id, audio in young:
            assert open_audio(c, message_id) == audio
        with c.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(destruction_records)).scalar_one() == 0
        refused = [e for e in lc.audit.events() if e.action == "retention.refused"]
        assert len(refused) == 1 and refused[0].outcome == "denied"
        assert json.loads(refused[0].details)["skew_seconds"] > 3 * 364 * DAY
        assert not [e for e in lc.audit.events() if e.action == "message.shred"]
    finally:
        c.close()


def test_clocks_within_the_bound_run_retention(tmp_path: Path, pg_url: str) -> None:
    site = Site(tmp_path / "site", pg_url, retention_max_clock_skew=300)
    c = site.container()
    try:
        now = time.time()
        expired = seed(c, age_days=800, now=now)[0]
        young = seed(c, age_days=2, now=now)
        report = Lifecycle(c, now=lambda: time.time() + 120).runner("retention", "test").run()
        assert report.destroyed == 1 and report.failed == 0
        assert expired not in keys_of(c)
        assert open_audio(c, young[0]) == young[1]
    finally:
        c.close()
