"""Celery on RabbitMQ as deploy/compose.yaml runs it: the task queue is a quorum queue, workers consume it
(per-consumer prefetch: quorum queues refuse global QoS), and retries with a countdown come back through
RabbitMQ's native delayed delivery. Each test gets its own virtual host, removed afterwards."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.pipeline.harness import CALLERS, Site, free_port, make_wav, wait_for
from tests.requirements import require_binary
from voicemail.config import load_settings
from workers.celery_app import QUEUE, configure

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def ctl(*args: str) -> str:
    rabbitmqctl = require_binary("rabbitmqctl", package="rabbitmq-server")
    return subprocess.run([rabbitmqctl, "-q", *args], check=True, capture_output=True, text=True,
                          timeout=60).stdout


@pytest.fixture
def rabbit_vhost() -> Iterator[tuple[str, str]]:
    vhost = f"vm_test_{uuid.uuid4().hex[:10]}"
    ctl("add_vhost", vhost)
    try:
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield vhost, f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        ctl("delete_vhost", vhost)


def queue_types(vhost: str) -> dict[str, str]:
    rows = [line.split("\t") for line in ctl("list_queues", "-p", vhost, "name", "type").splitlines()]
    return {row[0]: row[1] for row in rows if len(row) == 2 and row[0] != "name"}


def test_rabbitmq_broker_gets_a_quorum_queue_on_a_topic_exchange() -> None:
    app = configure(load_settings(environ={"VOICEMAIL_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"}))
    queue, custody = app.conf.task_queues  # the default queue, and the default site's custody queue
    assert (queue.name, custody.name) == (QUEUE, "custody.default")
    for q in (queue, custody):
        assert q.queue_arguments == {"x-queue-type": "quorum"} and q.exchange.type == "topic"
    assert app.conf.worker_detect_quorum_queues
    redis_app = configure(load_settings(environ={"VOICEMAIL_BROKER_URL": "redis://127.0.0.1:6379/0"}))
    assert redis_app.conf.task_queues is None and redis_app.conf.task_default_exchange_type == "direct"


def test_messages_flow_through_a_quorum_queue_and_retries_use_delayed_delivery(
        tmp_path: Path, pg_url: str, rabbit_vhost: tuple[str, str]) -> None:
    vhost, url = rabbit_vhost
    site = Site(tmp_path / "site", database_url=pg_url, broker_url=url)
    site.prepare()
    site.start_standin()
    closed = str(free_port())  # the mail server is down: every notification is a transient failure
    try:
        mail_down = {"VOICEMAIL_MAILER": "smtp", "VOICEMAIL_SMTP_HOST": "127.0.0.1", "VOICEMAIL_SMTP_PORT": closed,
                     "VOICEMAIL_SMTP_TLS": "none", "VOICEMAIL_RETRY_BACKOFF_MAX": "1",
                     "VOICEMAIL_TASK_MAX_RETRIES": "50"}
        site.spawn("worker", "--concurrency", "2", log="worker", **mail_down)
        site.spawn("run", "--no-web", log="run", **mail_down)
        assert site.standin is not None
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
        for i, (callerid, context) in enumerate(CALLERS):
            mailbox = ("1001@default", "1002@default", "2001@default")[i]
            assert site.standin.leave_message(mailbox, callerid, caller_context=context,
                                              audio=make_wav(0.5, seed=i)) is not None
        try:
            wait_for(lambda: _stripped(site) == 3, 60, "3 messages sealed and stripped through RabbitMQ")
            wait_for(lambda: all(a >= 3 for a in site.notification_attempts()) and
                     len(site.notification_attempts()) == 3, 60, "notifications retried three times")
        except AssertionError:
            print(site.logs())
            raise
        types = queue_types(vhost)
        assert types.get(QUEUE) == "quorum"
        assert types.get("celery_delayed_0") == "quorum"  # Celery's native delayed delivery carried the retries
        assert site.sent() == 0
    finally:
        site.stop_all()


def _stripped(site: Site) -> int:
    with site.store() as store:
        return store.summary().get("messages.stripped", 0)
