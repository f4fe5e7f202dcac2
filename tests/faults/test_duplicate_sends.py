"""Second e-mails. (1) A worker paused (SIGSTOP: a long GC pause, a frozen VM) in the middle of an SMTP send
for longer than stale_after is overtaken by another worker, which sends; when the first one wakes up it
must abandon its send (its fencing token is no longer the newest) instead of delivering a second copy.
(2) A worker's broker connection (a private RabbitMQ node) is cut in the middle of a send: RabbitMQ
re-delivers the task to another worker at once, which must not send while the first still holds the lease.
A real SMTP server (aiosmtpd) counts what the owner receives."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.faults.invariants import Expected, Outcome, check, mail_counts_from_smtp
from tests.faults.services import PrivateRabbit, TcpProxy
from tests.faults.smtp_sink import SmtpSink, until
from tests.integration.pipeline.harness import CALLERS, Site, make_wav, wait_for
from tests.requirements import require_binary

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
STALE_AFTER = 4.0  # the harness's setting


def leave(site: Site, seed: int) -> Expected:
    assert site.standin is not None
    audio = make_wav(1, seed=seed)
    msg_id = site.standin.leave_message("1001@default", CALLERS[0][0], caller_context=CALLERS[0][1], audio=audio)
    assert msg_id is not None
    return Expected("1001@default", msg_id, audio)


def test_worker_paused_past_its_lease_during_an_smtp_send_sends_no_second_copy(
        tmp_path: Path, pg_url: str, redis_url: str, report: list[Outcome]) -> None:
    with SmtpSink() as sink:
        site = Site(tmp_path / "site", database_url=pg_url, broker_url=redis_url)
        site.prepare()
        site.start_standin()
        paused = threading.Event()
        paused_at = 0.0
        first: list[int] = []

        async def pause_the_sender(n: int) -> None:
            nonlocal paused_at
            if n == 1:  # the first send: freeze the worker that is talking to us, mid-transaction
                os.killpg(first[0], signal.SIGSTOP)
                paused_at = time.monotonic()
                paused.set()

        sink.recorder.on_rcpt = pause_the_sender
        frozen = None
        try:
            site.spawn("run", "--no-web", log="run", **sink.env())
            wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
            frozen = site.spawn("worker", "--pool", "solo", log="worker-paused", **sink.env())
            first.append(frozen.pid)
            expected = [leave(site, seed=31)]
            wait_for(paused.is_set, 60, "the first worker to reach RCPT")
            site.spawn("worker", "--pool", "solo", log="worker-other", **sink.env())
            wait_for(lambda: site.sent() >= 1 and len(sink.contents) >= 1, 60, "the other worker to send")
            overtaken_after = time.monotonic() - paused_at
            assert overtaken_after >= STALE_AFTER  # the lease held while it lived
            os.killpg(frozen.pid, signal.SIGCONT)
            log = site.root / "worker-paused.log"
            wait_for(lambda: "lease lost" in log.read_text() or len(sink.contents) > 1, 30,
                     "the paused worker to finish its send")
            time.sleep(1.0)  # a second copy, if one were sent, would be accepted within this
            outcome = check(site, "worker SIGSTOPped during an SMTP send past stale_after", expected,
                            mail_counts_from_smtp(sink.contents), recovery_seconds=overtaken_after,
                            note="recovery = pause until the other worker's send")
            report.append(outcome)
            assert outcome.violations == [], outcome.violations
            assert len(sink.contents) == 1
        finally:
            if frozen is not None and frozen.poll() is None:
                os.killpg(frozen.pid, signal.SIGCONT)
            site.stop_all()


def test_broker_connection_cut_during_a_send_sends_no_second_copy(
        tmp_path: Path, pg_url: str, report: list[Outcome]) -> None:
    require_binary("rabbitmq-server", package="rabbitmq-server")
    rabbit = PrivateRabbit()
    rabbit.start()
    proxy = TcpProxy(rabbit.port)
    with SmtpSink() as sink:
        site = Site(tmp_path / "site", database_url=pg_url, broker_url=rabbit.url)
        site.prepare()
        site.start_standin()
        via_proxy = f"amqp://guest:guest@127.0.0.1:{proxy.port}//"
        # room for the second worker to start while the first one's SMTP transaction stays open
        slow = {**sink.env(), "VOICEMAIL_STALE_AFTER": "30", "VOICEMAIL_MAIL_TIMEOUT": "20"}
        cut = threading.Event()

        async def cut_the_broker(n: int) -> None:
            if n == 1:  # the only worker is mid-send: its broker connection goes away, a second one starts
                proxy.cut()
                site.spawn("worker", "--pool", "solo", log="worker-direct", **slow)
                cut.set()
                # keep the transaction open until the re-delivered task has been tried by the other worker
                direct = site.root / "worker-direct.log"
                await until(lambda: "is being sent by another worker" in direct.read_text(errors="replace")
                            or sink.recorder.rcpts > 1, 15)

        sink.recorder.on_rcpt = cut_the_broker
        try:
            site.spawn("run", "--no-web", log="run", **slow)
            wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
            site.spawn("worker", "--pool", "solo", log="worker-proxied", VOICEMAIL_BROKER_URL=via_proxy, **slow)
            expected = [leave(site, seed=41)]
            wait_for(cut.is_set, 60, "the send to start")
            started = time.monotonic()
            proxy.restore()
            wait_for(lambda: site.sent() >= 1, 60, "the notification to be recorded as sent")
            recovered = time.monotonic() - started
            time.sleep(1.5)  # a second copy, if one were sent, would be accepted within this
            outcome = check(site, "broker connection cut during a send (RabbitMQ re-delivers)", expected,
                            mail_counts_from_smtp(sink.contents), recovery_seconds=recovered,
                            note="recovery = connection back until the send is recorded")
            report.append(outcome)
            assert outcome.violations == [], outcome.violations
            assert len(sink.contents) == 1
        finally:
            site.stop_all()
            proxy.close()
            rabbit.stop()
