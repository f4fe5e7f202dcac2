"""`voicemail import` killed (SIGKILL, from outside) in the middle of a run, then run again: every message
is sealed exactly once, no plaintext is left, no blob is orphaned, nobody is notified, and the audit chain
replays intact. Also killed at the two points around the batch commit (blobs durable but no rows; rows
committed but no placeholder yet)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.invariants import Expected, Outcome, check
from tests.integration.pipeline.harness import Site, wait_for
from voicemail.standin.spool_fill import fill_spool

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MESSAGES = 120


def _site(tmp_path: Path, pg_url: str) -> tuple[Site, list[Expected]]:
    site = Site(tmp_path / "site", database_url=pg_url)
    site.prepare()
    written = fill_spool(site.spool, 8, MESSAGES, keep=True)
    return site, [Expected(w.mailbox, w.msg_id, w.audio["wav"]) for w in written]


def _import(site: Site, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return site.spawn("import", "--batch", "10", *args, log="import", **env)


def _finish(site: Site, report: list[Outcome], scenario: str, expected: list[Expected], began: float) -> None:
    again = _import(site)
    assert again.wait(120) == 0, site.logs()
    outcome = check(site, scenario, expected, Counter(), announced=False,
                    recovery_seconds=time.monotonic() - began,
                    note="import rerun after the kill; imports are not announced")
    report.append(outcome)
    assert not outcome.violations, outcome.violations
    assert outcome.sealed == MESSAGES


def test_import_killed_from_outside_mid_run_then_rerun(tmp_path: Path, pg_url: str,
                                                       report: list[Outcome]) -> None:
    site, expected = _site(tmp_path, pg_url)
    doomed = _import(site, "--rate", "40")
    wait_for(lambda: site.recorded() >= 30, 60, "the import to commit a few batches")
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    assert doomed.returncode == -9
    assert 30 <= site.recorded() < MESSAGES  # killed mid-run, not after it
    _finish(site, report, "import killed mid-run (SIGKILL)", expected, time.monotonic())


@pytest.mark.parametrize("point", ["import.before_commit", "import.after_commit"])
def test_import_killed_around_the_batch_commit_then_rerun(tmp_path: Path, pg_url: str, report: list[Outcome],
                                                          point: str) -> None:
    site, expected = _site(tmp_path, pg_url)
    doomed = _import(site, VOICEMAIL_FAILPOINTS=f"{point}=kill")
    assert doomed.wait(60) == -9
    assert site.recorded() == (0 if point == "import.before_commit" else 10)
    _finish(site, report, f"import killed at {point}", expected, time.monotonic())


