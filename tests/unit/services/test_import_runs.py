"""One `voicemail import` per site (its lock), a run's state written only by the import that holds the run,
the run's cutoff from the earlier of two clocks less a margin, and the progress of a run where some
envelopes need no work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from voicemail.audit.store import AuditLog
from voicemail.cli.common import RateBar
from voicemail.cli.spool_import import LockLost, _watched, cutoff
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.import_lock import ImportLock, lock_file
from voicemail.db.import_store import DONE, INTERRUPTED, RUNNING, SqlImportStore
from voicemail.db.migrate import upgrade
from voicemail.db.models import ImportRunRow


def test_a_second_import_lock_of_the_same_site_is_refused_on_sqlite_until_the_first_is_released(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'voicemail.db'}")
    first, second, other_site = ImportLock(engine, "default"), ImportLock(engine, "default"), ImportLock(engine, "b")
    try:
        assert first.acquire()
        assert not second.acquire()
        assert other_site.acquire()  # another site's import runs at the same time
        first.release()
        assert second.acquire()
        assert lock_file(str(tmp_path / "voicemail.db"), "default").exists()
    finally:
        for lock in (first, second, other_site):
            lock.release()
        engine.dispose()


def test_a_second_import_lock_of_the_same_site_is_refused_on_postgresql(pg_url: str) -> None:
    one, two = make_engine(pg_url), make_engine(pg_url)  # two processes' connections
    first, second, other_site = ImportLock(one, "default"), ImportLock(two, "default"), ImportLock(two, "b")
    try:
        assert first.acquire()
        assert not second.acquire()
        assert other_site.acquire()
        first.release()
        assert second.acquire()
    finally:
        for lock in (first, second, other_site):
            lock.release()
        one.dispose()
        two.dispose()


def test_the_lock_of_a_closed_connection_is_gone(pg_url: str) -> None:
    one, two = make_engine(pg_url), make_engine(pg_url)
    try:
        assert ImportLock(one, "default").acquire()  # never released, as by a killed import
        one.dispose()  # its connection ends
        assert ImportLock(two, "default").acquire()
    finally:
        two.dispose()


def test_a_lock_whose_connection_was_terminated_is_no_longer_held(pg_url: str) -> None:
    one, admin = make_engine(pg_url), make_engine(pg_url)
    lock = ImportLock(one, "default")
    try:
        assert lock.acquire() and lock.held()
        with admin.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                              "AND granted AND pid <> pg_backend_pid()"))
        assert not lock.held()
        assert ImportLock(admin, "default").acquire()  # the site is free for another import
    finally:
        lock.release()
        one.dispose()
        admin.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_an_import_whose_run_another_import_resumed_leaves_the_run_s_state_to_that_one(
        database: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'vm.db'}" if database == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    try:
        upgrade(engine)
        first, second = SqlImportStore(make_sessionmaker(engine)), SqlImportStore(make_sessionmaker(engine))
        lost = first.open_run(1_700_000_000, False, "tester")
        resumed = second.open_run(1_800_000_000, True, "tester")  # after the first lost the site's lock
        assert resumed.resumed and resumed.id == lost.id

        def run() -> tuple[str, int]:
            with engine.connect() as conn:
                row = conn.execute(select(ImportRunRow.state, ImportRunRow.imported)).one()
                return row.state, row.imported

        assert not first.end_run(lost, INTERRUPTED, 3, "tester")
        assert run() == (RUNNING, 3)  # the second's state stands; what the first imported is counted
        assert second.end_run(resumed, DONE, 5, "tester")
        assert run() == (DONE, 8)
        ends = [json.loads(e.details) for e in AuditLog(engine).iter_all() if e.action == "custody.import_end"]
        assert [(e["state"], e.get("resumed_elsewhere")) for e in ends] == [(INTERRUPTED, True), (DONE, None)]
    finally:
        engine.dispose()


class _Lock:
    def __init__(self) -> None:
        self.lost, self.checks = False, 0

    def held(self) -> bool:
        self.checks += 1
        return not self.lost


def test_a_running_import_checks_its_lock_every_few_seconds_and_stops_once_it_is_lost() -> None:
    now, steps, lock = [0.0], list[int](), _Lock()
    # _Lock stands in for an ImportLock: only `held` is used.
    step = _watched(steps.append, lock, every=5.0, clock=lambda: now[0])  # type: ignore[arg-type]
    step(1)
    now[0] = 4.9
    step(1)
    assert lock.checks == 0  # not before the interval
    now[0] = 5.0
    step(1)
    assert lock.checks == 1
    lock.lost, now[0] = True, 7.0
    step(1)  # within the next interval: not checked
    now[0] = 10.0
    with pytest.raises(LockLost):
        step(1)
    assert steps == [1, 1, 1, 1, 1]  # the work is counted before the check


def test_the_cutoff_is_the_earlier_clock_less_the_margin() -> None:
    database = 1_800_000_000
    assert cutoff(database, 300, host_time=database + 2 * 86_400) == database - 300  # host clock ahead
    assert cutoff(database, 300, host_time=database - 600) == database - 900  # host clock behind
    assert cutoff(database, 0, host_time=database) == database


class FakeBar:
    def __init__(self) -> None:
        self.pos = 0
        self.shown: list[str | None] = []

    def update(self, n: int, item: Any = None) -> None:
        self.pos += n
        self.shown.append(item)


def test_the_rate_and_time_left_count_only_the_work_of_this_run() -> None:
    now = [0.0]
    bar = FakeBar()
    progress = RateBar(bar, 1000, clock=lambda: now[0])
    progress.skip(900)  # done by an earlier run, in a moment
    assert bar.pos == 900 and bar.shown[-1] is None  # no rate in the first second
    now[0] = 10.0
    progress(20)  # 2 a second
    assert bar.pos == 920
    assert bar.shown[-1] == "00:00:40  2/s"  # 80 left at 2 a second
    now[0] = 11.0
    progress.skip(30)
    assert bar.shown[-1] == "00:00:27  2/s"  # 50 left at 20 in 11 s


def test_a_run_with_nothing_to_do_shows_no_time_left() -> None:
    now = [0.0]
    progress = RateBar(FakeBar(), 100, clock=lambda: now[0])
    now[0] = 2.0
    progress.skip(50)
    assert progress.info() == "0/s"


def test_the_time_left_shows_days_past_a_day() -> None:
    now = [0.0]
    progress = RateBar(FakeBar(), 200_001, clock=lambda: now[0])
    now[0] = 1.0
    progress(1)
    assert progress.info() == "2d 07:33:20  1/s"
