"""The clock comparison retention makes before destroying anything, and SQLite's clock (the host's own)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from voicemail.db.engine import make_engine
from voicemail.lifecycle.clock import ClockSkewError, check_clocks, database_clock


def test_a_skew_beyond_the_bound_is_refused_either_way() -> None:
    with pytest.raises(ClockSkewError, match="ahead of"):
        check_clocks(1_000_400.0, 1_000_000.0, 300)
    with pytest.raises(ClockSkewError, match="behind"):
        check_clocks(1_000_000.0, 1_000_400.0, 300)


def test_a_skew_within_the_bound_is_returned() -> None:
    assert check_clocks(1_000_299.5, 1_000_000.0, 300) == pytest.approx(299.5)


def test_zero_turns_the_check_off() -> None:
    assert check_clocks(2e9, 1e9, 0) == 1e9


def test_sqlite_reports_the_hosts_clock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    try:
        assert abs(database_clock(engine)() - time.time()) < 2
    finally:
        engine.dispose()
