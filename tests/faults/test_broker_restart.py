"""The broker killed (SIGKILL) and restarted while messages keep arriving: a private redis-server without
persistence (every queued task is lost) and a private RabbitMQ node. The database is the outbox: the
sweeper re-enqueues whatever the broker lost, so every message is sealed and notified exactly once. The
worker runs under a restart-on-failure supervisor, as under systemd: Celery's Redis transport sometimes
ends the worker ("Unrecoverable error") when the broker dies under it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.faults.invariants import Expected, Outcome, check, mail_counts_from_outbox
from tests.faults.services import PrivateRabbit, PrivateRedis
from tests.faults.supervise import Supervised
from tests.integration.pipeline.harness import CALLERS, Site, make_wav, wait_for
from tests.requirements import require_binary

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
ARRIVING = 12  # one every 0.4 s: before, during and after the outage


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_broker_killed_and_restarted_while_messages_arrive_loses_nothing(
        kind: str, tmp_path: Path, pg_url: str, report: list[Outcome]) -> None:
    require_binary(f"{kind}-server", package=f"{kind}-server")
    broker = PrivateRedis(tmp_path / "redis") if kind == "redis" else PrivateRabbit()
    broker.start()
    site = Site(tmp_path / "site", database_url=pg_url, broker_url=broker.url)
    expected: list[Expected] = []
    worker: Supervised | None = None
    try:
        site.prepare()
        site.start_standin()
        site.spawn("run", "--no-web", log="run")
        worker = Supervised(site, "worker", "--pool", "prefork", "--concurrency", "2", log="worker")
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]

        def arrive() -> None:
            for n in range(ARRIVING):
                caller, context = CALLERS[n % len(CALLERS)]
                audio = make_wav(0.5, seed=700 + n)
                box = ("1001@default", "1002@default", "2001@default")[n % 3]
                msg_id = site.standin.leave_message(box, caller, caller_context=context,  # type: ignore[union-attr]
                                                    audio=audio)
                assert msg_id is not None
                expected.append(Expected(box, msg_id, audio))
                time.sleep(0.4)

        caller = threading.Thread(target=arrive, name="callers")
        caller.start()
        time.sleep(1.5)
        broker.kill()
        time.sleep(2.0)  # messages keep arriving while the broker is gone
        broker.start()
        restarted = time.monotonic()
        caller.join(60)
        try:
            wait_for(lambda: site.sent() >= ARRIVING, 60, "every notification after the broker came back")
        except AssertionError:
            print(site.logs())  # the listener's and the worker's own words on what held the messages back
            raise
        recovered = time.monotonic() - restarted
        restarted_note = f"; the worker was restarted {worker.restarts}x" if worker.restarts else ""
        outcome = check(site, f"{kind} SIGKILLed and restarted while messages arrive", expected,
                        mail_counts_from_outbox(site), recovery_seconds=recovered,
                        note=f"recovery = broker restart until every message notified{restarted_note}")
        report.append(outcome)
        assert outcome.violations == [], outcome.violations
    finally:
        if worker is not None:
            worker.stop()
        site.stop_all()
        broker.stop()
