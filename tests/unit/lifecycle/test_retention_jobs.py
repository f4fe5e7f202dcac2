"""Retention as a scheduled job (SQLite): the beat entry, two runs at once destroy each message exactly
once, expiry warnings reach the owner once and name no caller, and migration 0007 downgrades cleanly."""

from __future__ import annotations

import email
import threading
import time
from email import policy
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from tests.unit.lifecycle.support import NOW, Site, seed
from voicemail.db.migrate import alembic_config, upgrade
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import MailboxOwner
from voicemail.lifecycle.lease import LeaseBusy
from voicemail.lifecycle.runner import RunReport
from voicemail.lifecycle.wiring import Lifecycle


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}", retention_warn_days=14)


def test_the_beat_schedule_runs_retention_daily() -> None:
    from voicemail.config import load_settings
    from workers.celery_app import configure

    app = configure(load_settings(environ={}))
    entry = app.conf.beat_schedule["retention-run"]
    assert entry["task"] == "workers.lifecycle_tasks.retention_run" and entry["schedule"] == 86400.0
    app = configure(load_settings(environ={"VOICEMAIL_RETENTION_INTERVAL": "0"}))
    assert "retention-run" not in app.conf.beat_schedule


def test_two_runs_at_once_destroy_each_message_exactly_once(site: Site) -> None:
    c = site.container()
    due = {seed(c, age_days=800 + i)[0] for i in range(12)}
    seed(c, age_days=10)
    results: list[RunReport | str] = []

    def run() -> None:
        try:
            results.append(Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW).runner("retention", "test").run())
        except LeaseBusy:
            results.append("busy")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reports = [r for r in results if isinstance(r, RunReport)]
    destroyed = [i for r in reports for e in r.record["record"]["classes"] for i in e["ids"]]
    assert sorted(destroyed) == sorted(due)  # each once, whichever run did it
    assert all(r.failed == 0 for r in reports)
    c.close()


def test_owners_are_warned_once_before_their_messages_expire(site: Site) -> None:
    c = site.container()
    box = MailboxRef("default", "1001")
    c.store.upsert_mailbox(MailboxOwner(box, "Carol Owner", "carol@example.test"))
    soon = [seed(c, age_days=720), seed(c, age_days=725, folder="Old")]
    seed(c, age_days=100)  # not soon
    seed(c, age_days=725, mailbox="1003")  # no owner on record: nobody to warn
    lc = Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW)
    assert lc.warner().run() == 1
    emls = list((site.root / "outbox").rglob("*.eml"))
    assert len(emls) == 1
    msg = email.message_from_bytes(emls[0].read_bytes(), policy=policy.default)
    assert msg["To"] == "carol@example.test" and "deleted soon" in msg["Subject"]
    text = emls[0].read_text(errors="replace")
    body = msg.get_body(("plain",))
    assert body is not None
    assert "2 voice message(s) in mailbox 1001" in body.get_content()
    assert "5550100" not in text and "Ext" not in text  # never the caller
    assert lc.warner().run() == 0  # once per message
    assert len(soon) == 2
    c.close()


def test_migration_0007_creates_and_drops_its_tables(tmp_path: Path) -> None:
    from voicemail.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    mine = {"kek_usage", "key_rotations", "lifecycle_leases", "destruction_records", "quota_alerts", "expiry_warnings"}
    assert mine <= set(inspect(engine).get_table_names())
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    assert not mine & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert mine <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_the_celery_task_runs_retention_and_reports_busy_while_another_run_holds_the_lease(site: Site) -> None:
    import workers.runtime as runtime
    from voicemail.lifecycle.lease import leased
    from workers.lifecycle_tasks import retention_once

    c = site.container()
    now = time.time()
    gone = seed(c, age_days=800, now=now)[0]
    runtime.install(c)
    try:
        with leased(c.engine, "retention"):
            assert retention_once() == {"status": "busy"}
        result = retention_once()
        assert result["status"] == "done" and result["destroyed"] == 1 and result["failed"] == 0
        assert c.store.committed_blobs(gone) == ("destroyed", set())
    finally:
        runtime._container = None
        c.close()


def test_the_plan_on_sqlite_sorts_classes_ages_and_holds(site: Site) -> None:
    from voicemail.audit.access import Actor
    from voicemail.audit.service import Investigations

    c = site.container()
    new_due, _ = seed(c, age_days=731)
    urgent_due, _ = seed(c, age_days=731, folder="Urgent")
    old_due, _ = seed(c, age_days=900, folder="Work")
    seed(c, age_days=729, folder="Old")
    deleted_due, _ = seed(c, age_days=3, hidden_days=2)
    seed(c, age_days=3, hidden_days=0.25)
    held, _ = seed(c, age_days=1000)
    admin, ivy = Actor("admin", "test"), Actor("ivy", "test")
    inv = Investigations(c.engine)
    inv.access.grant(admin, admin.name, "administrator", "bootstrap")
    inv.access.grant(admin, ivy.name, "investigator", "setup")
    inv.access.open_case(ivy, "CI-1", "OIG", "fraud")
    inv.holds.place(ivy, "CI-1", "message", message_ids=[held])
    plans = {p.record_class: p for p in Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW).planner.message_plans()}
    assert {d.id for d in plans["messages.new"].due} == {new_due, urgent_due}
    assert [h.id for h in plans["messages.new"].held] == [held]
    assert {d.id for d in plans["messages.old"].due} == {old_due}
    assert {d.id for d in plans["messages.deleted"].due} == {deleted_due}
    c.close()
