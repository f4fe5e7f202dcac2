"""SIGKILL a worker while it streams a 60-minute recording (8 kHz 16-bit mono, 57.6 MB) into the vault,
from outside, the moment it has the file open. A new worker takes over (the sweeper re-enqueues the
stranded seal): the recording is sealed exactly once, bit-identical, nothing of it is left in plaintext
anywhere (the killed run's half-written temporary blob included, once the vault GC has run), and the
owner is notified once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.invariants import Expected, Outcome, check, mail_counts_from_outbox
from tests.faults.killers import KillOnOpen
from tests.integration.pipeline.harness import CALLERS, Site, make_wav, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def spool_audio_of(site: Site, msg_id: str) -> Path:
    for txt in site.spool.rglob("msg*.txt"):
        if f"msg_id={msg_id}" in txt.read_text():
            return txt.with_suffix(".wav")
    raise AssertionError(f"{msg_id} not in the spool")


def test_worker_killed_while_streaming_an_hour_long_recording_loses_and_leaks_nothing(
        tmp_path: Path, pg_url: str, redis_url: str, report: list[Outcome]) -> None:
    site = Site(tmp_path / "site", database_url=pg_url, broker_url=redis_url)
    site.prepare()
    site.start_standin()
    assert site.standin is not None
    killer: KillOnOpen | None = None
    try:
        site.spawn("run", "--no-web", log="run")
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
        hour = make_wav(3600, seed=60)
        assert len(hour) == 57_600_044
        msg_id = site.standin.leave_message("2001@default", CALLERS[1][0], caller_context=CALLERS[1][1], audio=hour)
        assert msg_id is not None
        expected = [Expected("2001@default", msg_id, hour)]
        doomed = site.spawn("worker", "--pool", "solo", log="worker-killed")
        vault = site.root / "vault"

        def halfway() -> bool:  # a temporary blob of more than 20 MB is being written
            return any(p.stat().st_size > 20_000_000 for p in vault.rglob(".seal-*"))

        killer = KillOnOpen(doomed.pid, spool_audio_of(site, msg_id), interval=0.001, once=True,
                            when=halfway).start()
        wait_for(lambda: doomed.poll() is not None, 60, "the worker to be killed mid-stream")
        killed_at = time.monotonic()
        assert doomed.returncode == -9
        assert list(vault.rglob(".seal-*")), "the kill did not land while the blob was being written"
        for n in range(2):  # life goes on meanwhile
            audio = make_wav(0.5, seed=61 + n)
            other = site.standin.leave_message("2001@default", CALLERS[0][0], caller_context=CALLERS[0][1],
                                               audio=audio)
            assert other is not None
            expected.append(Expected("2001@default", other, audio))
        site.spawn("worker", "--pool", "solo", log="worker")  # the service manager restarts it
        wait_for(lambda: site.sent() >= 3, 90, "every notification after the restart")
        recovered = time.monotonic() - killed_at
        outcome = check(site, "worker SIGKILLed while streaming a 60-minute recording (57.6 MB)", expected,
                        mail_counts_from_outbox(site), recovery_seconds=recovered,
                        note="recovery = kill until every message notified (worker restart included)")
        report.append(outcome)
        assert outcome.violations == [], outcome.violations
    finally:
        if killer is not None:
            killer.stop()
        site.stop_all()
