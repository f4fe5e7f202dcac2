"""`voicemail run` started for the first time on a spool that already holds years of voicemail: it exits
with status 78 before contacting Asterisk and records nothing, so no owner is e-mailed about old messages;
after `voicemail import` it starts and announces none of them; with --announce-existing it takes custody of
them and announces every one. The other ways into the spool hold back the same way: `voicemail reconcile`
and a worker's scheduled reconciliation (what `voicemail beat` sends every reconcile_interval)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.pipeline.harness import VOICEMAIL, Site, wait_for
from voicemail.db.models import ImportRunRow, ListenerLeaseRow, MessageRow, NotificationRow
from voicemail.standin import StandinConfig, StandinMailbox, StandinThread
from voicemail.standin.spool_fill import fill_spool

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# fill_spool's mailboxes, each with an owner who would be e-mailed
BOXES = tuple(StandinMailbox("default", str(10000 + n), fullname=f"Owner {n}", email=f"owner{n}@example.test")
              for n in range(3))
OLD = 60  # above the default first_start_backlog (50)


@pytest.fixture
def site(tmp_path: Path, pg_url: str) -> Iterator[Site]:
    s = Site(tmp_path / "site", database_url=pg_url)
    s.prepare()
    s.standin = StandinThread(StandinConfig(spool_dir=s.spool, username="voicemail", secret=s.secret,
                                            mailboxes=BOXES))
    s.port = s.standin.start()
    list(fill_spool(s.spool, len(BOXES), OLD))
    yield s
    s.stop_all()


def _notifications(site: Site) -> list[str]:
    with site.connect() as conn:
        return sorted(conn.execute(select(NotificationRow.state)).scalars())


def _run_once(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOICEMAIL, "run", "--no-web", *args], env=site.env(), capture_output=True, text=True,
                          timeout=120)


def test_a_first_run_on_a_backlog_exits_78_and_records_nothing_then_starts_after_the_import(site: Site) -> None:
    assert site.standin is not None
    refused = _run_once(site)
    assert refused.returncode == 78, refused.stderr
    text = " ".join(refused.stderr.split())
    assert "more than 50 messages" in text and "e-mail each owner" in text
    assert "`voicemail import`" in text and "--announce-existing" in text
    assert site.standin.activity() == []  # Asterisk was never contacted
    for table in (MessageRow, NotificationRow, ImportRunRow, ListenerLeaseRow):
        assert site.count(table) == 0, table.__tablename__
    assert site.emls() == [] and len(site.plaintext_left()) == OLD

    imported = subprocess.run([VOICEMAIL, "import"], env=site.env(), capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, imported.stderr
    assert f"imported: {OLD}" in imported.stdout

    run = site.spawn("run", "--no-web", log="run")
    try:
        wait_for(lambda: "reconciliation: " in site.log("run"), 30, "the listener's first reconciliation")
        assert run.poll() is None, site.logs()
    except AssertionError:
        print(site.logs())
        raise
    assert _notifications(site) == ["skipped"] * OLD and site.emls() == []


def test_announce_existing_takes_custody_of_the_backlog_and_announces_every_message(site: Site) -> None:
    site.spawn("run", "--no-web", "--announce-existing", log="run")
    try:
        wait_for(lambda: len(site.emls()) == OLD, 90, f"the {OLD} old messages to be announced")
    except AssertionError:
        print(site.logs())
        raise
    assert _notifications(site) == ["sent"] * OLD
    assert site.count(ImportRunRow) == 0 and site.plaintext_left() == []


def test_the_threshold_is_a_setting_and_zero_turns_the_check_off(site: Site) -> None:
    refused = subprocess.run([VOICEMAIL, "run", "--no-web"], env=site.env(VOICEMAIL_FIRST_START_BACKLOG="59"),
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 78 and "more than 59 messages" in " ".join(refused.stderr.split())
    site.spawn("run", "--no-web", log="run", VOICEMAIL_FIRST_START_BACKLOG="0")
    try:
        wait_for(lambda: site.count(MessageRow) == OLD, 30, "the listener to take custody of the spool")
    except AssertionError:
        print(site.logs())
        raise


def _nothing_recorded(site: Site) -> None:
    for table in (MessageRow, NotificationRow, ImportRunRow, ListenerLeaseRow):
        assert site.count(table) == 0, table.__tablename__
    assert site.emls() == [] and len(site.plaintext_left()) == OLD


def test_voicemail_reconcile_on_a_site_never_served_exits_78_and_records_nothing(site: Site) -> None:
    refused = subprocess.run([VOICEMAIL, "reconcile"], env=site.env(), capture_output=True, text=True, timeout=120)
    assert refused.returncode == 78, refused.stderr
    text = " ".join(refused.stderr.split())
    assert text.startswith("voicemail reconcile: not started") and "more than 50 messages" in text
    _nothing_recorded(site)


SCHEDULED_RECONCILE = """
import os
from voicemail.config import load_settings
from workers import tasks
from workers.celery_app import configure

configure(load_settings(environ=dict(os.environ)))
tasks.reconcile.delay()
"""


def _reconcile_through_the_broker(site: Site) -> None:
    sent = subprocess.run([sys.executable, "-c", SCHEDULED_RECONCILE], env=site.env(), capture_output=True,
                          text=True, timeout=120)
    assert sent.returncode == 0, sent.stderr


def _reconciliations(site: Site) -> list[str]:
    """The worker's log lines of finished reconcile tasks (Celery logs each task's result)."""
    return [line for line in site.log("worker").splitlines()
            if "workers.tasks.reconcile" in line and "succeeded" in line]


def test_a_worker_s_scheduled_reconciliation_of_a_site_never_served_takes_nothing(site: Site,
                                                                                   redis_url: str) -> None:
    site.broker_url = redis_url
    site.spawn("worker", "--pool", "solo", log="worker")
    _reconcile_through_the_broker(site)
    try:
        wait_for(lambda: len(_reconciliations(site)) == 1, 60, "the worker to run the reconcile task")
    except AssertionError:
        print(site.logs())
        raise
    assert "'skipped_backlog': 1" in _reconciliations(site)[0]
    assert "reconciliation skipped: site default: its spool holds more than 50 messages" in site.log("worker")
    _nothing_recorded(site)
    imported = subprocess.run([VOICEMAIL, "import"], env=site.env(), capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, imported.stderr
    _reconcile_through_the_broker(site)  # the site is served now: the pass runs, and finds nothing new
    wait_for(lambda: len(_reconciliations(site)) == 2, 60, "the second reconcile task")
    assert "'seen': 60" in _reconciliations(site)[1] and "'new': 0" in _reconciliations(site)[1]
    assert site.emls() == []
