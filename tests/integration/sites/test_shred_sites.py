"""Retention with two Asterisk servers (two stand-ins, each with its own spool): a run picked up by a worker
of site hq, whose address for the branch AMI reaches hq's Asterisk (each site's AMI on its own loopback),
destroys the key of a due branch message but never asks hq's Asterisk to remove it; the branch's
own worker finishes the shred on the branch Asterisk (VoicemailRemove), and nothing of the message is left
in the branch spool. PostgreSQL and Redis, real `voicemail run` and `voicemail worker` processes; and the
`voicemail retention run` command, which hands the branch's shreds to the branch's custody queue."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.pipeline.harness import VOICEMAIL, make_wav, wait_for
from tests.integration.sites.test_two_sites import BRANCH, FAST, HQ, TwoSites
from tests.integration.sites.test_wrong_site_task import waiting
from tests.unit.lifecycle.support import Site as Installation
from tests.unit.lifecycle.support import seed
from voicemail.app import build_container
from voicemail.audit.signing import SigningKey
from voicemail.db.engine import make_engine
from voicemail.sites import Site as Branch

RETENTION_ON_HQ = """
import os
from voicemail.config import load_settings
from workers.celery_app import configure
from workers.lifecycle_tasks import retention_run

configure(load_settings(os.environ["VOICEMAIL_CONFIG"]))
retention_run.apply_async(queue="custody.hq")  # only the hq worker consumes this queue
"""


@pytest.fixture
def sites(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[TwoSites]:
    two = TwoSites(tmp_path, pg_url, redis_url)
    two.start()
    SigningKey.create(two.hq.root / "audit-signing.pem")
    yield two
    two.stop()


def age(sites: TwoSites, site: str, msg_id: str, days: int) -> None:
    """Make a message ``days`` older (retention's clock is the real one)."""
    engine = make_engine(sites.hq.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE messages SET origtime = origtime - :s WHERE site = :site AND msg_id = :m"),
                         {"s": days * 86400, "site": site, "m": msg_id})
    finally:
        engine.dispose()


def removes(activity: list[tuple[float, str, str]]) -> int:
    return sum(1 for _t, _session, action in activity if action == "voicemailremove")


@pytest.mark.slow
@pytest.mark.postgres
def test_retention_on_an_hq_worker_leaves_the_branch_message_s_envelope_to_the_branch_worker(
        sites: TwoSites) -> None:
    hq_standin, branch_standin = sites.hq.standin, sites.branch
    assert hq_standin is not None and branch_standin is not None
    sites.spawn("run", "--no-web", log="listener-hq")
    branch_listener = sites.spawn("run", "--no-web", "--site", BRANCH, log="listener-branch")
    # as in a deployment where each site's AMI is on its own loopback: from the hq worker, the address it
    # has for the branch Asterisk reaches hq's (the review's case: VoicemailRemove sent to the wrong server)
    sites.hq.spawn("worker", "--pool", "solo", "--site", HQ, log="worker-hq", VOICEMAIL_CONFIG=str(sites.config),
                   VOICEMAIL_SITE_NAME=HQ, VOICEMAIL_SITE_BRANCH_AMI_PORT=str(sites.hq.port),
                   VOICEMAIL_SITE_BRANCH_AMI_SECRET=sites.hq.secret, **FAST)
    sites.spawn("worker", "--pool", "solo", "--site", BRANCH, log="worker-branch")
    wait_for(lambda: hq_standin.session_count() >= 1 and branch_standin.session_count() >= 1,
             30, "both listeners to log in to their Asterisk")
    hq_id = hq_standin.leave_message("1001@default", '"Bob" <1002>', caller_context="vm-internal",
                                     audio=make_wav(0.4, seed=11))
    branch_id = branch_standin.leave_message("1001@default", "+12025550123", caller_context="vm-from-trunk",
                                             audio=make_wav(0.4, seed=12))
    assert hq_id and branch_id
    try:
        wait_for(lambda: sites.state(HQ, hq_id) == "stripped" and sites.state(BRANCH, branch_id) == "stripped",
                 90, "both messages sealed and stripped")
        # the branch listener (which would also finish the branch's shreds) is stopped: the task must do it
        os.killpg(branch_listener.pid, signal.SIGTERM)
        branch_listener.wait(20)
        age(sites, BRANCH, branch_id, 800)
        hq_removes_before = removes(hq_standin.activity())
        assert list(sites.branch_spool.rglob("msg*")) != []  # the stripped envelope: placeholder and .txt

        env = sites.hq.env(VOICEMAIL_CONFIG=str(sites.config), VOICEMAIL_SITE_NAME=HQ)
        published = subprocess.run([sys.executable, "-c", RETENTION_ON_HQ], env=env, capture_output=True,
                                    text=True, timeout=60)
        assert published.returncode == 0, published.stderr
        wait_for(lambda: sites.state(BRANCH, branch_id) == "destroyed", 90, "the branch message destroyed")
    except AssertionError:
        print(sites.hq.logs())
        raise
    assert "'destroyed': 1" in sites.log("worker-hq")  # the run was the hq worker's
    assert removes(hq_standin.activity()) == hq_removes_before  # hq's Asterisk was not asked
    assert removes(branch_standin.activity()) >= 1  # the branch's was
    assert list(sites.branch_spool.rglob("msg*")) == []
    assert sites.state(HQ, hq_id) == "stripped"  # hq's own young message untouched
    assert any(p.name.startswith("msg") for p in sites.hq.spool.rglob("msg*"))
    ran = "Task workers.tasks.finish_shred["
    assert ran in sites.log("worker-branch") and ran not in sites.log("worker-hq")


@pytest.mark.slow
def test_the_retention_command_hands_another_site_s_shreds_to_that_site_s_custody_queue(
        tmp_path: Path, redis_url: str) -> None:
    """`voicemail retention run` on a default-site host with a broker: the branch message's key is destroyed
    and its envelope left to a finish_shred task waiting on custody.branch (SQLite, no worker running)."""
    site = Installation(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}")
    site.settings = dataclasses.replace(site.settings, sites=(Branch("branch", spool_dir=str(tmp_path / "b")),))
    c = build_container(site.settings, on_new=lambda _id: None)
    here, there = seed(c, age_days=900, now=time.time()), seed(c, age_days=900, now=time.time(), site="branch")
    c.close()
    run = subprocess.run([VOICEMAIL, "retention", "run", "--actor", "records-officer"], capture_output=True,
                         text=True, timeout=120, env=site.env(VOICEMAIL_SITES="branch", VOICEMAIL_BROKER_URL=redis_url))
    assert run.returncode == 0, run.stderr
    assert "destroyed 2 record(s)" in run.stdout
    [(task, args, kwargs)] = waiting(redis_url, "custody.branch")
    assert (task, args) == ("workers.tasks.finish_shred", [there[0]])
    assert (kwargs["site"], kwargs["actor"]) == ("branch", "records-officer")
    assert waiting(redis_url, "custody.default") == []
    engine = make_engine(site.settings.database_url)
    try:
        with engine.connect() as conn:
            states: dict[str, str] = dict(conn.execute(text("SELECT id, state FROM messages")).all())
    finally:
        engine.dispose()
    assert (states[here[0]], states[there[0]]) == ("destroyed", "shredding")
