"""Retention on PostgreSQL with a controllable clock: messages of different ages and holds -> exactly the
due, unheld ones are crypto-shredded; a copy of the vault and a database backup taken before cannot
open them once the KEK that wrapped their keys is retired; a signed destruction record verifies."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from tests.unit.lifecycle.support import DAY, IVY, NOW, Site, keys_of, open_audio, open_case, seed
from voicemail.audit.tables import cdrs
from voicemail.cli import main
from voicemail.domain.errors import KeyringError
from voicemail.domain.models import MailboxRef, WrappedKey
from voicemail.lifecycle.planner import iso
from voicemail.lifecycle.records import verify_record
from voicemail.lifecycle.wiring import Lifecycle

pytestmark = pytest.mark.postgres


def cdr_row(received: float, unique: str) -> dict[str, object]:
    return {"unique_id": unique, "system_name": "pbx", "account_code": "", "source": "1001", "destination": "1002",
            "destination_context": "default", "caller_id": "", "channel": "", "destination_channel": "",
            "last_application": "Dial", "last_data": "", "start_time": "2030-01-01 10:00:00", "answer_time": "",
            "end_time": "", "duration": 10, "billable_seconds": 8, "disposition": "ANSWERED", "ama_flags": "",
            "user_field": "", "received_at": iso(received)}


def test_time_travel_destroys_exactly_the_due_unheld_messages(tmp_path: Path, pg_url: str) -> None:
    site = Site(tmp_path / "site", pg_url, retention_rotate_kek=True)
    c = site.container()
    m = {
        "new_due": seed(c, age_days=800),
        "old_due": seed(c, age_days=731, folder="Old"),
        "young": seed(c, age_days=700),
        "held_msg": seed(c, age_days=1000, folder="Old"),
        "held_box": seed(c, age_days=900, mailbox="1002"),
        "deleted_due": seed(c, age_days=10, hidden_days=5),
        "deleted_young": seed(c, age_days=10, hidden_days=0.5),
    }
    inv = open_case(c, "CI-2030-7")
    inv.holds.place(IVY, "CI-2030-7", "message", message_ids=[m["held_msg"][0]])
    inv.holds.place(IVY, "CI-2030-7", "mailbox", mailbox=MailboxRef("default", "1002"))
    with c.engine.begin() as conn:
        conn.execute(insert(cdrs), [cdr_row(NOW - 400 * DAY, "old-call"), cdr_row(NOW - 10 * DAY, "new-call")])
    vault_backup = tmp_path / "vault-backup"
    shutil.copytree(site.root / "vault", vault_backup)
    db_backup = keys_of(c)

    lc = Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW)
    plans = {p.record_class: p for p in lc.planner.message_plans()}
    assert {d.id for d in plans["messages.new"].due} == {m["new_due"][0]}
    assert {d.id for d in plans["messages.old"].due} == {m["old_due"][0]}
    assert {d.id for d in plans["messages.deleted"].due} == {m["deleted_due"][0]}
    assert len(plans["messages.old"].held) == 1 and len(plans["messages.new"].held) == 1

    report = lc.runner("retention", "test").run()
    due = {m[k][0] for k in ("new_due", "old_due", "deleted_due")}
    kept = {k: v for k, v in m.items() if v[0] not in due}
    assert (report.held, report.failed) == (2, 0)
    body = report.record["record"]
    by_class = {e["class"]: e for e in body["classes"]}
    destroyed_messages = {i for k in ("messages.new", "messages.old", "messages.deleted") for i in by_class[k]["ids"]}
    assert destroyed_messages == due
    assert by_class["cdrs"]["count"] == 1 and by_class["messages.old"]["held_skipped"] == 1
    assert {k["message_id"] for k in by_class["messages.old"]["keys_destroyed"]} == {m["old_due"][0]}
    assert verify_record(report.record, lc.runner("x", "y")._key.public) == []
    for mid in due:
        with pytest.raises(LookupError):
            open_audio(c, mid)  # the live database holds no key any more
    for _name, (mid, audio) in kept.items():
        assert open_audio(c, mid) == audio
    with c.engine.connect() as conn:
        assert [r.unique_id for r in conn.execute(select(cdrs.c.unique_id))] == ["new-call"]
    shreds = [e for e in lc.audit.events() if e.action == "message.shred" and e.message_id in due]
    assert {e.message_id for e in shreds} == due

    # the backup still holds the old wrapped keys: they die with the KEK that wrapped them
    retired, rotated = lc.shred_from_backups("retention", "test")
    assert retired == [] and rotated.left == 0
    retired, _ = lc.shred_from_backups("retention", "test")  # the next day's run retires yesterday's KEK
    assert retired == [db_backup[m["new_due"][0]][0]]
    for mid in due:
        kek, wrapped = db_backup[mid]
        with pytest.raises(KeyringError):
            c.keyring.unwrap(WrappedKey(kek, wrapped), mid.encode())
        assert any(p.name.startswith(mid) for p in vault_backup.rglob("*"))  # the ciphertext is in the backup
    for _name, (mid, audio) in kept.items():
        assert open_audio(c, mid) == audio  # re-wrapped under the new KEK

    again = lc.runner("retention", "test").run()  # idempotent: nothing more is due
    assert (again.destroyed, again.held) == (0, 2)

    result = CliRunner().invoke(main, ["retention", "verify", str(report.path)], env=site.env())
    assert result.exit_code == 0, result.output
    assert "verified" in result.output and f"{len(due) + 1} record(s) destroyed" in result.output
    c.close()


def test_retention_commands_plan_run_and_verify(tmp_path: Path, pg_url: str) -> None:
    site = Site(tmp_path / "site", pg_url)
    c = site.container()
    now = dt.datetime.now(dt.UTC).timestamp()
    gone = seed(c, age_days=731, now=now)
    soon = seed(c, age_days=725, now=now)
    c.close()
    runner = CliRunner()
    plan = runner.invoke(main, ["retention", "plan", "--days", "10", "--ids"], env=site.env())
    assert plan.exit_code == 0, plan.output
    assert "messages.new       keep 730 days: 1 due now, 1 due later, 0 held" in plan.output
    assert gone[0] in plan.output and soon[0] in plan.output
    run = runner.invoke(main, ["retention", "run", "--actor", "records-officer"], env=site.env())
    assert run.exit_code == 0, run.output
    assert "destroyed 1 record(s), 0 held (skipped), 0 failed" in run.output
    record_id = run.output.split("record ")[1].split()[0]
    verify = runner.invoke(main, ["retention", "verify", record_id], env=site.env())
    assert verify.exit_code == 0 and "verified" in verify.output
    c = site.container()
    assert open_audio(c, soon[0]) == soon[1]
    c.close()
