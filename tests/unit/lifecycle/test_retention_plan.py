"""`voicemail retention plan` (``plan_lines``) on SQLite: it shows what a run would destroy, and reads the
messages batch by batch, so its memory does not grow with the number of messages."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Table

from tests.unit.lifecycle.support import NOW, Site, fill_stripped, seed
from voicemail.audit.access import Access, Actor
from voicemail.audit.holds import Holds
from voicemail.audit.service import Investigations
from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.db.models import MessageRow
from voicemail.lifecycle.planner import Planner
from voicemail.lifecycle.policy import MESSAGES_OLD, RetentionPolicy
from voicemail.lifecycle.runner import plan_lines
from voicemail.lifecycle.wiring import Lifecycle

messages = cast(Table, MessageRow.__table__)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}")


def test_the_plan_counts_what_a_run_would_destroy_and_lists_the_ids_earliest_due_first(site: Site) -> None:
    c = site.container()
    due_new = [seed(c, age_days=731 + i)[0] for i in range(3)]
    soon = seed(c, age_days=725)[0]  # due in 5 days
    seed(c, age_days=100)
    due_old = [seed(c, age_days=800, folder="Old")[0], seed(c, age_days=760, folder="Old", state="shredding")[0]]
    held = seed(c, age_days=1000)[0]
    admin, ivy = Actor("admin", "test"), Actor("ivy", "test")
    inv = Investigations(c.engine)
    inv.access.grant(admin, admin.name, "administrator", "bootstrap")
    inv.access.grant(admin, ivy.name, "investigator", "setup")
    inv.access.open_case(ivy, "CI-1", "OIG", "fraud")
    inv.holds.place(ivy, "CI-1", "message", message_ids=[held])
    planner = Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW).planner

    lines = list(plan_lines(planner, within_days=7, show_ids=True))

    assert "messages.new       keep 730 days: 3 due now, 1 due later, 1 held (skipped)" in lines[1]
    new_ids = [line.split()[0] for line in lines[3:7]]
    assert new_ids == [*reversed(due_new), soon]  # the oldest (earliest due) first, the held one left out
    assert lines[2] == "    next due: 2030-03-22 17:46 UTC"
    assert "messages.old       keep 730 days: 2 due now, 0 due later, 0 held (skipped)" in lines[7]
    assert [line.split()[0] for line in lines[8:10]] == due_old
    plans = {p.record_class: p for p in planner.message_plans(within_days=7)}
    assert [d.id for d in plans["messages.new"].due] == new_ids  # the run's plan agrees
    assert [h.id for h in plans["messages.new"].held] == [held]
    assert any(line.startswith("  cdrs ") and ": 0 due now" in line for line in lines)
    c.close()




def _peak(lines: Callable[[], Iterable[str]]) -> tuple[int, int]:
    """Peak traced memory while the lines are made and printed (counted), and how many there were. The
    cyclic collector runs often meanwhile, so the database layer's short-lived cycles are not counted as
    growth."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(100, 1, 1)
    tracemalloc.start()
    try:
        printed = sum(1 for _ in lines())
        return tracemalloc.get_traced_memory()[1], printed
    finally:
        tracemalloc.stop()
        gc.set_threshold(*thresholds)


@pytest.mark.parametrize("show_ids", [False, True])
def test_the_plan_reads_in_batches_so_its_memory_does_not_grow_with_the_messages(tmp_path: Path,
                                                                                 show_ids: bool) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    planner = Planner(engine, Holds(engine, Access(engine, AuditLog(engine))),
                      RetentionPolicy.from_settings(Site(tmp_path / "s", "sqlite://").settings), lambda: NOW,
                      batch=50)
    fill_stripped(engine, 0, 400)
    list(plan_lines(planner, show_ids=show_ids))  # warm: compiled statements, imports
    small, printed_small = _peak(lambda: plan_lines(planner, show_ids=show_ids))
    fill_stripped(engine, 400, 2_800)
    large, printed_large = _peak(lambda: plan_lines(planner, show_ids=show_ids))
    assert printed_large - printed_small == (2_800 if show_ids else 0)
    # 8x the messages: holding every due one took 6x the memory; reading a batch at a time, the database
    # layer's caches and not yet collected garbage still vary by some tens of KB
    assert large < small * 3, (small, large)
    summary = planner.summary(MESSAGES_OLD)
    assert (summary.due_now, summary.due_later, summary.held) == (2_560, 0, 0)
    engine.dispose()
