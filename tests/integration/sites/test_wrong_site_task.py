"""The safety net of custody routing with several sites: a custody task of site ``branch`` that reaches a
worker of site ``hq`` (published onto ``custody.hq`` by mistake: a process with an old configuration, a
hand-made enqueue) is sent on to ``custody.branch`` and never run against the hq spool. A real broker
(Redis) and a real ``voicemail worker``; the hq worker's own custody tasks still run there."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.pipeline.harness import Site, wait_for
from voicemail.db.engine import make_engine

pytestmark = [pytest.mark.slow]

HQ_QUEUE, BRANCH_QUEUE = "custody.hq", "custody.branch"
PUBLISH = """
import os
from voicemail.config import load_settings
from workers import tasks
from workers.celery_app import configure

configure(load_settings(os.environ["VOICEMAIL_CONFIG"]))
wrong = {"queue": "custody.hq"}  # a worker of site hq consumes this queue
tasks.seal_message.apply_async(("m-seal",), {"site": "branch"}, **wrong)
tasks.strip_message.apply_async(("m-strip",), {"site": "branch"}, **wrong)
tasks.take_custody_batch.apply_async((["m-b1", "m-b2"],), {"site": "branch"}, **wrong)
tasks.reconcile.apply_async((), {"site": "branch"}, **wrong)
tasks.reconcile.apply_async((), {"site": "hq"}, **wrong)  # its own site's: runs here
"""


@pytest.fixture
def site(tmp_path: Path, redis_url: str) -> Iterator[Site]:
    s = Site(tmp_path / "site", database_url=f"sqlite:///{tmp_path / 'vm.db'}", broker_url=redis_url)
    s.prepare()
    s.spool.mkdir(parents=True)  # the hq spool, empty
    config = s.root / "voicemail.toml"
    config.write_text(f'site_name = "hq"\n[[sites]]\nname = "branch"\nami_host = "127.0.0.1"\nami_port = 5999\n'
                      f'ami_username = "voicemail"\nspool_dir = "{tmp_path / "branch-spool"}"\n')
    yield s
    s.stop_all()


def waiting(redis_url: str, queue: str) -> list[tuple[str, list[object], dict[str, object]]]:
    """The tasks waiting in a Redis queue: (task name, args, kwargs)."""
    import redis

    out = []
    for raw in redis.Redis.from_url(redis_url).lrange(queue, 0, -1):
        message = json.loads(raw)
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], args, kwargs))
    return out


def test_a_custody_task_of_another_site_is_sent_on_to_its_own_queue_not_run(site: Site, redis_url: str) -> None:
    env = site.env(VOICEMAIL_CONFIG=str(site.root / "voicemail.toml"), VOICEMAIL_SITE_BRANCH_AMI_SECRET="x")
    published = subprocess.run([sys.executable, "-c", PUBLISH], env=env, capture_output=True, text=True, timeout=60)
    assert published.returncode == 0, published.stderr
    assert len(waiting(redis_url, HQ_QUEUE)) == 5 and waiting(redis_url, BRANCH_QUEUE) == []

    site.spawn("worker", "--pool", "solo", log="worker-hq", VOICEMAIL_CONFIG=env["VOICEMAIL_CONFIG"],
               VOICEMAIL_SITE_BRANCH_AMI_SECRET="x")
    try:
        wait_for(lambda: len(waiting(redis_url, BRANCH_QUEUE)) == 4 and not waiting(redis_url, HQ_QUEUE), 60,
                 "the branch tasks to reach custody.branch")
        wait_for(lambda: "'mailboxes': 0" in site.logs(), 30, "the hq reconciliation to run on the hq worker")
    except AssertionError:
        print(site.logs())
        raise
    assert sorted(waiting(redis_url, BRANCH_QUEUE)) == sorted([
        ("workers.tasks.seal_message", ["m-seal"], {"site": "branch"}),
        ("workers.tasks.strip_message", ["m-strip"], {"site": "branch"}),
        ("workers.tasks.take_custody_batch", [["m-b1", "m-b2"]], {"site": "branch"}),
        ("workers.tasks.reconcile", [], {"site": "branch"})])
    log = site.logs()
    assert log.count("is for site branch, not hq: sent on to its queue") == 4
    engine = make_engine(site.database_url)
    try:
        with engine.connect() as conn:  # nothing ran against the hq spool: no message, nothing parked
            assert conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one() == 0
            assert conn.execute(text("SELECT count(*) FROM messages")).scalar_one() == 0
    finally:
        engine.dispose()
