"""How a `voicemail import` run starts and ends: one import per site at a time, a cutoff that a host clock
running ahead cannot move past the messages Asterisk is recording now, Ctrl-C before the walk begins, and
the audit event of each run's end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from tests.integration.pipeline.harness import VOICEMAIL, Site, wait_for
from tests.integration.spool_import.conftest import fill, run_import
from voicemail.audit.chain import replay
from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine
from voicemail.db.models import ImportRunRow


def _runs(site: Site) -> list[tuple[str, int, int]]:
    """(state, cutoff, imported) of every run."""
    engine = make_engine(site.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(ImportRunRow.state, ImportRunRow.cutoff, ImportRunRow.imported))
            return [(r.state, r.cutoff, r.imported) for r in rows]
    finally:
        engine.dispose()


def _events(site: Site, action: str) -> list[dict[str, Any]]:
    """The details of every audit event of ``action``; the chain must replay intact."""
    engine = make_engine(site.database_url)
    try:
        audit = AuditLog(engine)
        verdict = replay(audit.iter_all(), start=audit.base(), head=audit.head())
        assert verdict.ok, verdict.problem
        return [json.loads(e.details) for e in audit.iter_all() if e.action == action]
    finally:
        engine.dispose()


def _end_lock_backends(site: Site) -> None:
    """From outside, as a restarted server or a cut network would: every backend holding an import lock ends."""
    engine = make_engine(site.database_url)
    try:
        with engine.begin() as conn:
            ended = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks "
                                      "WHERE locktype = 'advisory' AND granted")).scalars().all()
        assert ended == [True]
    finally:
        engine.dispose()


def test_a_second_import_of_the_same_site_exits_with_75_and_leaves_the_running_one_alone(site: Site) -> None:
    fill(site, mailboxes=3, messages=30)
    first = site.spawn("import", "--rate", "5", "--batch", "1", log="import")
    wait_for(lambda: site.recorded() >= 2, 60, "the first import to start sealing")
    second = run_import(site)
    assert second.returncode == 75, second.stderr
    assert "another `voicemail import` of site default is running" in second.stderr
    assert "resuming" not in second.stderr and second.stdout == ""
    assert first.wait(60) == 0, site.logs()
    assert [state for state, _, imported in _runs(site)] == ["done"]
    assert len(_events(site, "custody.import")) == 1  # the second neither opened nor resumed a run
    third = run_import(site)  # the lock went with the first
    assert third.returncode == 0 and "already in custody: 30" in third.stdout, third.stderr


def test_a_killed_import_leaves_no_lock_behind(site: Site) -> None:
    fill(site, mailboxes=2, messages=20)
    doomed = site.spawn("import", "--rate", "5", "--batch", "1", log="import")
    wait_for(lambda: site.recorded() >= 2, 60, "the import to start sealing")
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    again = run_import(site)
    assert again.returncode == 0, again.stderr
    assert "resuming import run" in again.stderr and "already in custody" in again.stdout


def test_an_import_whose_lock_connection_is_cut_stops_and_resumes_later(site: Site) -> None:
    fill(site, mailboxes=2, messages=80)  # 16 s at 5/s: the lock is checked every 5 s
    cut = site.spawn("import", "--rate", "5", "--batch", "1", log="import")
    wait_for(lambda: site.recorded() >= 2, 60, "the import to start sealing")
    _end_lock_backends(site)
    assert cut.wait(30) == 75, site.logs()
    stopped = site.logs()
    assert "the database connection holding this import's lock on site default was lost" in stopped
    assert [state for state, _, _ in _runs(site)] == ["interrupted"]
    again = run_import(site)
    assert again.returncode == 0, again.stderr
    assert "resuming import run" in again.stderr
    assert [state for state, _, _ in _runs(site)] == ["done"] and site.recorded() == 80


def test_an_import_that_lost_its_lock_leaves_the_run_to_the_import_that_resumed_it(site: Site) -> None:
    fill(site, mailboxes=2, messages=80)
    cut = site.spawn("import", "--rate", "5", "--batch", "1", log="import")
    wait_for(lambda: site.recorded() >= 2, 60, "the first import to start sealing")
    os.kill(cut.pid, signal.SIGSTOP)  # it cannot notice the loss before the second import has resumed the run
    try:
        _end_lock_backends(site)
        second = site.spawn("import", "--rate", "5", "--batch", "1", log="second")
        wait_for(lambda: len(_events(site, "custody.import")) == 2, 60, "the second import to resume the run")
    finally:
        os.kill(cut.pid, signal.SIGCONT)
    assert cut.wait(30) == 75, site.logs()
    assert second.poll() is None, site.logs()  # still working on the run
    assert [state for state, _, _ in _runs(site)] == ["running"]  # as the second import set it
    stopped = (site.root / "import.log").read_text()
    assert "another import has resumed run" in stopped and "it goes on there" in stopped
    [end] = _events(site, "custody.import_end")
    assert end["state"] == "interrupted" and end["resumed_elsewhere"] is True
    assert second.wait(60) == 0, site.logs()
    assert [state for state, _, _ in _runs(site)] == ["done"] and site.recorded() == 80
    first_end, second_end = _events(site, "custody.import_end")
    assert "resumed_elsewhere" not in second_end
    assert second_end["imported_in_run"] == int(first_end["imported"]) + int(second_end["imported"])


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs faketime (libfaketime)")
def test_a_host_clock_running_ahead_leaves_messages_being_recorded_now_to_the_live_pipeline(site: Site) -> None:
    fill(site, mailboxes=2, messages=6)
    now = int(time.time())
    fill(site, mailboxes=2, messages=2, newest=now - 30, years=0.0, seed=5)  # recorded half a minute ago
    fill(site, mailboxes=1, messages=1, newest=now + 3600, years=0.0, seed=6)  # during a long import
    result = subprocess.run([shutil.which("faketime") or "faketime", "-f", "+2d", VOICEMAIL, "import"],
                            env=site.env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "imported: 6" in result.stdout and "left to the live pipeline: 3" in result.stdout
    [(_, cutoff, _)] = _runs(site)
    assert cutoff <= int(time.time()) - 300  # the database's clock, less the default margin


def test_the_cutoff_margin_is_an_option(site: Site) -> None:
    fill(site, mailboxes=1, messages=2)
    fill(site, mailboxes=1, messages=1, newest=int(time.time()) - 30, years=0.0, seed=5)
    result = run_import(site, "--cutoff-margin", "0")
    assert result.returncode == 0, result.stderr
    assert "imported: 3" in result.stdout


def test_ctrl_c_while_the_spool_is_counted_records_the_run_interrupted(site: Site,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from voicemail.cli import main
    from voicemail.spool.file_spool import FileSpool

    fill(site, mailboxes=2, messages=4)

    def interrupted(self: FileSpool) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(FileSpool, "count_envelopes", interrupted)
    result = CliRunner().invoke(main, ["import", "--priority", "normal"], env=site.env())
    assert result.exit_code == 130, result.output
    assert [state for state, _, _ in _runs(site)] == ["interrupted"]
    [end] = _events(site, "custody.import_end")
    assert end["state"] == "interrupted" and end["imported"] == 0
    monkeypatch.undo()
    again = run_import(site)
    assert again.returncode == 0 and "resuming import run" in again.stderr and "imported: 4" in again.stdout


def test_the_end_of_each_run_is_audited_with_what_it_imported(site: Site) -> None:
    fill(site, mailboxes=3, messages=40)
    proc = site.spawn("import", "--rate", "20", "--batch", "5", log="import")
    wait_for(lambda: site.recorded() >= 10, 60, "a few batches")
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(30) == 130
    again = run_import(site)
    assert again.returncode == 0, again.stderr
    interrupted, done = _events(site, "custody.import_end")
    first, second = _events(site, "custody.import")
    assert interrupted["run"] == done["run"] == first["run"] == second["run"]
    assert interrupted["state"] == "interrupted" and done["state"] == "done"
    assert 0 < int(interrupted["imported"]) < 40
    assert int(interrupted["imported"]) + int(done["imported"]) + int(done["resumed_strips"]) == 40
    assert done["imported_in_run"] == 40 - int(done["resumed_strips"])
    [(state, _, imported)] = _runs(site)
    assert (state, imported) == ("done", done["imported_in_run"])
