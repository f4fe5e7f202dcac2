"""`voicemail retention run` reads the due messages a page at a time (SQLite): a run over more due messages
than one page destroys each exactly once, a hold placed during the run still protects its messages, and
the run's memory does not grow with the number of due messages."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, func, select

from tests.unit.lifecycle.support import IVY, NOW, Site, fill_stripped, open_case, seed, traced_peak
from voicemail.app import Container
from voicemail.audit.access import Access
from voicemail.audit.holds import Holds
from voicemail.audit.signing import SigningKey
from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.db.models import MessageRow
from voicemail.domain.models import MailboxRef
from voicemail.domain.ports import Shredder
from voicemail.lifecycle.planner import Planner
from voicemail.lifecycle.policy import RetentionPolicy
from voicemail.lifecycle.records import verify_record
from voicemail.lifecycle.runner import RetentionRunner
from voicemail.lifecycle.wiring import Lifecycle

messages = cast(Table, MessageRow.__table__)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}")


def _key_steps(c: Any) -> Counter[str | None]:
    """How many times each message's data key was destroyed, from the audit trail."""
    return Counter(e.message_id for e in AuditLog(c.engine).events()
                   if e.action == "message.shred" and json.loads(e.details).get("step") == "key" and e.outcome == "ok")


def _state(c: Container, message_id: str) -> str:
    """The message's state on record (it must exist)."""
    found = c.store.committed_blobs(message_id)
    assert found is not None, message_id
    return found[0]


def test_a_run_over_several_pages_destroys_every_due_message_exactly_once(site: Site) -> None:
    c = site.container()
    due_new = {seed(c, age_days=800 + i)[0] for i in range(7)}
    due_old = {seed(c, age_days=760 + i, folder="Old")[0] for i in range(4)}
    due_deleted = {seed(c, age_days=10, hidden_days=3 + i)[0] for i in range(4)}
    young = {seed(c, age_days=100)[0] for _ in range(3)}
    held = seed(c, age_days=900)[0]
    open_case(c, "CI-1").holds.place(IVY, "CI-1", "message", message_ids=[held])
    totals: list[int] = []
    steps: list[int] = []

    def progress(total: int) -> Any:
        totals.append(total)
        return steps.append

    runner = Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW).runner("retention", "test", page=3)
    report = runner.run(progress=progress)

    by_class = {e["class"]: e for e in report.record["record"]["classes"]}
    assert set(by_class["messages.new"]["ids"]) == due_new and by_class["messages.new"]["held_skipped"] == 1
    assert set(by_class["messages.old"]["ids"]) == due_old
    assert set(by_class["messages.deleted"]["ids"]) == due_deleted
    listed = [i for e in report.record["record"]["classes"] for i in e["ids"]]
    assert len(listed) == len(set(listed)) == 15  # each listed once
    assert {k["message_id"] for e in by_class.values() for k in e.get("keys_destroyed", [])} == set(listed)
    assert (report.destroyed, report.held, report.failed) == (15, 1, 0)
    assert _key_steps(c) == Counter(dict.fromkeys(listed, 1))  # each key destroyed once
    assert totals == [15] and sum(steps) == 15  # the progress bar: its total, then one step a message
    assert all(_state(c, m) == "destroyed" for m in listed)
    assert all(_state(c, m) == "stripped" for m in young | {held})
    assert verify_record(report.record, SigningKey.load(Path(site.settings.audit_signing_key)).public) == []
    assert report.path is not None  # the file, written as it is encoded, reads as the whole record did
    assert report.path.read_text(encoding="ascii") == json.dumps(report.record, indent=2, sort_keys=True) + "\n"
    again = Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW).runner("retention", "test", page=3).run()
    assert (again.destroyed, again.held, again.failed) == (0, 1, 0)
    c.close()


class _HoldOnFirstShred:
    """The real shredder, but a mailbox hold on 1002 is placed (and committed) before the first message is
    shredded: the run is under way, most of its pages not read yet."""

    def __init__(self, inner: Shredder, place: Any) -> None:
        self._inner, self._place = inner, place
        self._lock = threading.Lock()
        self._placed = False

    def shred(self, message_id: str, *, actor: str, source: str, reason: str, finish: bool = True) -> str:
        with self._lock:
            if not self._placed:
                self._place()
                self._placed = True
        return self._inner.shred(message_id, actor=actor, source=source, reason=reason, finish=finish)


def test_a_hold_placed_during_a_paged_run_protects_its_messages(site: Site) -> None:
    c = site.container()
    free = {seed(c, age_days=800 + i)[0] for i in range(5)}
    boxed = {seed(c, age_days=800 + i, mailbox="1002")[0] for i in range(5)}
    inv = open_case(c, "CI-1")
    lc = Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW)
    proto = lc.runner("retention", "test", page=2)
    runner = RetentionRunner(
        c.engine, lc.planner,
        _HoldOnFirstShred(proto._shredder, lambda: inv.holds.place(IVY, "CI-1", "mailbox",
                                                                   mailbox=MailboxRef("default", "1002"))),
        lc.audit, proto._key, actor="retention", source="test", records_dir=None, page=2)

    report = runner.run()

    listed = [i for e in report.record["record"]["classes"] for i in e["ids"]]
    assert sorted(listed) == sorted(free)
    assert (report.destroyed, report.held, report.failed) == (5, 5, 0)
    assert all(_state(c, m) == "stripped" for m in boxed)
    assert not set(_key_steps(c)) & boxed
    c.close()


class _HeldSinceRead:
    """A shredder that finds every message held (a hold placed after its page was read): nothing is
    destroyed, so the record stays the same size whatever the number of due messages."""

    def shred(self, message_id: str, *, actor: str, source: str, reason: str, finish: bool = True) -> str:
        return "held"




def _peak_of_run(runner: RetentionRunner) -> tuple[int, int]:
    """Peak traced memory during a run, and how many messages it found held."""
    peak, report = traced_peak(runner.run)
    return peak, report.held


def test_a_run_holds_one_page_so_its_memory_does_not_grow_with_the_due_messages(tmp_path: Path) -> None:
    site = Site(tmp_path / "s", "sqlite://")
    engine = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    audit = AuditLog(engine)
    planner = Planner(engine, Holds(engine, Access(engine, audit)), RetentionPolicy.from_settings(site.settings),
                      lambda: NOW)
    runner = RetentionRunner(engine, planner, _HeldSinceRead(), audit, SigningKey.load(site.root / "signing.pem"),
                             actor="retention", source="test", records_dir=None, workers=2, page=500)
    fill_stripped(engine, 0, 500)
    runner.run()  # warm: compiled statements, imports
    fill_stripped(engine, 500, 4_500)
    small, held_small = _peak_of_run(runner)
    fill_stripped(engine, 5_000, 15_000)
    large, held_large = _peak_of_run(runner)
    assert (held_small, held_large) == (5_000, 20_000)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar() == 20_000
    # 4x the due messages: holding every one of them took about 4x the memory; a page at a time, the
    # database layer's caches and not yet collected garbage vary by some tens of KB
    assert large < small * 1.5, (small, large)
    engine.dispose()
