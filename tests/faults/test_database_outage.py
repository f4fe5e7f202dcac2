"""PostgreSQL killed (SIGKILL of a private cluster's postmaster) while messages are being committed, down
for a while as more messages arrive, then restarted (crash recovery). The listener retries its failed
mailbox scans with backoff on its own (no new event, no reconcile_interval wait), the workers retry their
commits, and every message is sealed and notified once, soon after the database is back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.invariants import Expected, Outcome, check, mail_counts_from_outbox
from tests.faults.services import PrivatePostgres
from tests.integration.pipeline.harness import CALLERS, Site, make_wav, wait_for
from tests.requirements import missing

pytestmark = [pytest.mark.slow, pytest.mark.redis]
RECOVERY_BOUND = 30.0  # seconds after the restart; reconcile_interval stays at its default (300 s)


def leave(site: Site, n: int) -> Expected:
    assert site.standin is not None
    caller, context = CALLERS[n % len(CALLERS)]
    audio = make_wav(0.5, seed=500 + n)
    box = ("1001@default", "1002@default", "2001@default")[n % 3]
    msg_id = site.standin.leave_message(box, caller, caller_context=context, audio=audio)
    assert msg_id is not None
    return Expected(box, msg_id, audio)


def test_postgres_killed_during_commits_and_restarted_loses_nothing_and_recovers_at_once(
        tmp_path: Path, redis_url: str, report: list[Outcome]) -> None:
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        missing("PostgreSQL's server programs (/usr/lib/postgresql/*/bin)", "apt-get install postgresql")
    pg = PrivatePostgres()
    pg.start()
    site = Site(tmp_path / "site", database_url=pg.url, broker_url=redis_url)
    try:
        site.prepare()
        site.start_standin()
        site.spawn("run", "--no-web", log="run")
        site.spawn("worker", "--pool", "prefork", "--concurrency", "2", log="worker")
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
        expected = [leave(site, n) for n in range(2)]
        wait_for(lambda: site.sent() >= 2, 60, "the first two notifications")
        expected += [leave(site, n) for n in range(2, 4)]  # these are being committed when the database dies
        pg.kill()
        expected += [leave(site, n) for n in range(4, 7)]  # these arrive while it is down
        time.sleep(3)  # the listener's scans and the workers' commits fail meanwhile
        pg.start()
        restarted = time.monotonic()
        wait_for(lambda: site.sent() >= len(expected), RECOVERY_BOUND, "every notification after the restart")
        recovered = time.monotonic() - restarted
        run_log = (site.root / "run.log").read_text()
        assert run_log.count("scanning mailboxes failed") <= 1  # one log line per outage, not one per retry
        outcome = check(site, "PostgreSQL SIGKILLed during commits, restarted 3 s later", expected,
                        mail_counts_from_outbox(site), recovery_seconds=recovered,
                        note="recovery = restart until every message notified")
        report.append(outcome)
        assert outcome.violations == [], outcome.violations
    finally:
        site.stop_all()
        pg.stop()
