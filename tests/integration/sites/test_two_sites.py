"""Two Asterisk servers (two stand-ins, each with its own spool) served by one installation: a listener and
a custody worker per site, PostgreSQL, and a real broker (RabbitMQ and Redis).

Mailbox 1001@default exists on both Asterisks and belongs to two different people; each site's messages
are sealed, stripped and notified by the workers of that site only, and the listener lease is per site.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.ops.test_rabbitmq_quorum import ctl
from tests.integration.pipeline.harness import DIRECTORY, Site, make_wav, wait_for
from voicemail.db.engine import make_engine
from voicemail.standin import StandinConfig, StandinMailbox, StandinThread
from voicemail.vault import FileKeyring, FileVault

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

HQ, BRANCH = "hq", "branch"
FAST = {"VOICEMAIL_LISTENER_LEASE_SECONDS": "4", "VOICEMAIL_LISTENER_RENEW_SECONDS": "1"}
BRANCH_MAILBOXES = (StandinMailbox("default", "1001", fullname="Dora Branch", email="dora@branch.example.test"),)


class TwoSites:
    """The harness's Site is the default site ``hq``; ``branch`` is a second stand-in with its own spool,
    named in a config file's [[sites]] table."""

    def __init__(self, root: Path, database_url: str, broker_url: str) -> None:
        self.hq = Site(root / "hq", database_url=database_url, broker_url=broker_url)
        self.branch_spool = root / "branch-spool"
        self.branch: StandinThread | None = None
        self.config = root / "voicemail.toml"

    def start(self) -> None:
        self.hq.prepare()
        (self.hq.root / "directory.csv").write_text(DIRECTORY)
        self.hq.start_standin()
        self.branch = StandinThread(StandinConfig(spool_dir=self.branch_spool, username="voicemail",
                                                  secret="branch-secret", mailboxes=BRANCH_MAILBOXES))
        port = self.branch.start()
        self.config.write_text(f'[[sites]]\nname = "{BRANCH}"\nami_host = "127.0.0.1"\nami_port = {port}\n'
                               f'ami_username = "voicemail"\nspool_dir = "{self.branch_spool}"\n')

    def spawn(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        return self.hq.spawn(*args, log=log, VOICEMAIL_CONFIG=str(self.config), VOICEMAIL_SITE_NAME=HQ,
                             VOICEMAIL_SITE_BRANCH_AMI_SECRET="branch-secret", **FAST)

    def stop(self) -> None:
        self.hq.stop_all()
        if self.branch is not None:
            self.branch.stop()

    def log(self, name: str) -> str:
        path = self.hq.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(site, context, mailbox, msg_id, state) of every message."""
        engine = make_engine(self.hq.database_url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(
                    "SELECT site, context, mailbox, msg_id, state FROM messages ORDER BY site, msg_id"))]
        finally:
            engine.dispose()

    def cdr_sources(self) -> set[tuple[str, str]]:
        """(site, Source) of every stored call detail record."""
        engine = make_engine(self.hq.database_url)
        try:
            with engine.connect() as conn:
                return {(r.site, r.source) for r in conn.execute(text("SELECT site, source FROM cdrs"))}
        finally:
            engine.dispose()

    def state(self, site: str, msg_id: str) -> str | None:
        return next((r[4] for r in self.rows() if r[0] == site and r[3] == msg_id), None)

    def lease(self, site: str) -> tuple[str, int] | None:
        engine = make_engine(self.hq.database_url)
        try:
            with engine.connect() as conn:
                row = conn.execute(text("SELECT holder, token FROM listener_lease WHERE site = :s"),
                                   {"s": site}).first()
            return (str(row[0]), int(row[1])) if row else None
        finally:
            engine.dispose()

    def opened(self, site: str, msg_id: str) -> bytes:
        """The sealed recording, decrypted as `voicemail message export` does."""
        engine = make_engine(self.hq.database_url)
        try:
            with engine.connect() as conn:
                mid, kek, dek, blob = conn.execute(text(
                    "SELECT m.id, m.kek_id, m.wrapped_dek, r.blob_name FROM messages m JOIN recordings r "
                    "ON r.message_id = m.id WHERE m.site = :s AND m.msg_id = :m AND r.fmt = 'wav'"),
                    {"s": site, "m": msg_id}).one()
        finally:
            engine.dispose()
        from voicemail.domain.models import WrappedKey

        key = FileKeyring(self.hq.root / "keyring.json").unwrap(WrappedKey(kek, bytes(dek)), mid.encode())
        return b"".join(FileVault(self.hq.root / "vault").open(blob, key, mid.encode()))

    def recipients(self) -> list[str]:
        return sorted(str(message_from_bytes(p.read_bytes())["To"]) for p in self.hq.emls())


def waiting_in(broker: str, broker_url: str, queue: str) -> int:
    """Tasks waiting in a queue of the broker (nobody consumed them)."""
    if broker == "rabbitmq":
        vhost = broker_url.rsplit("/", 1)[1]
        for line in ctl("list_queues", "-p", vhost, "name", "messages_ready").splitlines():
            name, _, count = line.partition("\t")
            if name == queue:
                return int(count)
        return 0
    import redis

    return int(redis.Redis.from_url(broker_url).llen(queue))


@pytest.fixture(params=["rabbitmq", "redis"])
def broker(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    if request.param == "redis":
        yield "redis", request.getfixturevalue("redis_url")
        return
    vhost = f"vm_test_{uuid.uuid4().hex[:10]}"
    ctl("add_vhost", vhost)
    try:
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield "rabbitmq", f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        ctl("delete_vhost", vhost)


@pytest.fixture
def sites(tmp_path: Path, pg_url: str, broker: tuple[str, str]) -> Iterator[TwoSites]:
    two = TwoSites(tmp_path, pg_url, broker[1])
    two.start()
    yield two
    two.stop()


def test_each_site_s_custody_runs_only_on_its_own_workers_and_the_same_mailbox_stays_two_mailboxes(
        sites: TwoSites, broker: tuple[str, str]) -> None:
    hq_standin, branch_standin = sites.hq.standin, sites.branch
    assert hq_standin is not None and branch_standin is not None
    sites.spawn("run", "--no-web", log="listener-hq")
    sites.spawn("run", "--no-web", "--site", BRANCH, log="listener-branch")
    sites.spawn("worker", "--pool", "solo", log="worker-hq")  # no --site: the default site, hq
    wait_for(lambda: hq_standin.session_count() >= 1 and branch_standin.session_count() >= 1,
             30, "both listeners to log in to their Asterisk")
    hq_audio, branch_audio = make_wav(0.5, seed=1), make_wav(0.5, seed=2)
    hq_id = hq_standin.leave_message("1001@default", '"Bob" <1002>', caller_context="vm-internal",
                                     audio=hq_audio)
    branch_id = branch_standin.leave_message("1001@default", "+12025550123", caller_context="vm-from-trunk",
                                             audio=branch_audio)
    assert hq_id and branch_id
    try:
        wait_for(lambda: sites.state(HQ, hq_id) == "stripped", 60, "the hq message sealed and stripped")
        wait_for(lambda: sites.state(BRANCH, branch_id) == "discovered", 30, "the branch message discovered")
        time.sleep(8)  # two sweeps (stale_after 4 s) re-enqueue it: still for the branch workers only
        assert sites.state(BRANCH, branch_id) == "discovered"
        assert waiting_in(broker[0], broker[1], "custody.branch") >= 1
        assert "is for site" not in sites.log("worker-hq")  # none was delivered to the hq worker

        sites.spawn("worker", "--pool", "solo", "--site", BRANCH, log="worker-branch")
        wait_for(lambda: sites.state(BRANCH, branch_id) == "stripped", 60, "the branch message sealed and stripped")
        wait_for(lambda: len(sites.hq.emls()) == 2, 60, "both notifications")
        # each listener stored its own Asterisk's Cdr events of the calls that left them, under its site
        wait_for(lambda: {(HQ, "1002"), (BRANCH, "+12025550123")} <= sites.cdr_sources(), 30, "both sites' CDRs")
    except AssertionError:
        print(sites.hq.logs())
        raise
    # one mailbox number, two mailboxes: each message is its site's, each notification goes to its owner
    assert {(r[0], r[1], r[2]) for r in sites.rows()} == {(HQ, "default", "1001"), (BRANCH, "default", "1001")}
    assert sites.recipients() == ["alice@example.test", "dora@branch.example.test"]
    assert sites.opened(HQ, hq_id) == hq_audio and sites.opened(BRANCH, branch_id) == branch_audio
    assert sites.hq.plaintext_left() == []
    assert not any(p.suffix != ".txt" and b"RIFF" in p.read_bytes()[:4] and p.read_bytes() == branch_audio
                   for p in sites.branch_spool.rglob("msg*"))
    assert "is for site" not in sites.log("worker-branch")
    assert {site for site, _source in sites.cdr_sources()} == {HQ, BRANCH}
    assert (HQ, "+12025550123") not in sites.cdr_sources() and (BRANCH, "1002") not in sites.cdr_sources()


def test_killing_one_site_s_listener_leaves_the_other_site_s_lease_and_messages_alone(
        sites: TwoSites, broker: tuple[str, str]) -> None:
    assert sites.hq.standin is not None and sites.branch is not None
    hq_listener = sites.spawn("run", "--no-web", log="listener-hq")
    branch_listener = sites.spawn("run", "--no-web", "--site", BRANCH, log="listener-branch")
    sites.spawn("worker", "--pool", "solo", "--site", HQ, log="worker-hq")
    sites.spawn("worker", "--pool", "solo", "--site", BRANCH, log="worker-branch")
    wait_for(lambda: sites.lease(HQ) is not None and sites.lease(BRANCH) is not None, 30, "a lease per site")
    sites.spawn("run", "--no-web", log="standby-hq")
    wait_for(lambda: "stand-by for site 'hq'" in sites.log("standby-hq"), 30, "the hq stand-by")
    hq_before, branch_before = sites.lease(HQ), sites.lease(BRANCH)
    assert hq_before is not None and branch_before is not None and hq_before[0] != branch_before[0]

    os.killpg(hq_listener.pid, signal.SIGKILL)
    branch_id = sites.branch.leave_message("1001@default", "+12025550123", caller_context="vm-from-trunk",
                                           audio=make_wav(0.4, seed=3))
    assert branch_id is not None
    try:
        wait_for(lambda: sites.state(BRANCH, branch_id) == "stripped", 60, "the branch message, hq listener down")
        wait_for(lambda: (sites.lease(HQ) or ("", 0))[1] > hq_before[1], 30, "the hq stand-by to take over")
        hq_id = sites.hq.standin.leave_message("1001@default", None, caller_context="vm-from-trunk",
                                               audio=make_wav(0.4, seed=4))
        assert hq_id is not None
        wait_for(lambda: sites.state(HQ, hq_id) == "stripped", 60, "the hq message under the new hq listener")
    except AssertionError:
        print(sites.hq.logs())
        raise
    assert sites.lease(BRANCH) == branch_before  # same holder, same fencing token: never taken over
    assert branch_listener.poll() is None and "stepping down" not in sites.log("listener-branch")
    assert "listening" in sites.log("standby-hq")
