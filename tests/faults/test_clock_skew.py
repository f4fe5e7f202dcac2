"""The host's clock skewed against the database's: `voicemail run` and the worker run under libfaketime
(the whole process tree's wall clock shifted, the monotonic clock left alone), first two hours ahead, then
two hours behind (a jump back of four hours between the two), while messages flow. Every message is sealed
once and notified once (no lease or stale_after misfire re-sends anything: every notification is sent at the
first attempt), and a retention run on the skewed host refuses to destroy anything."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.invariants import Expected, Outcome, check, mail_counts_from_outbox
from tests.integration.pipeline.harness import CALLERS, VOICEMAIL, Site, make_wav, wait_for
from tests.requirements import require_file

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
PER_PHASE = 3


def skewed(offset: str) -> dict[str, str]:
    return {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_NO_CACHE": "1"}


def test_host_clock_hours_ahead_then_behind_the_database_keeps_every_invariant(
        tmp_path: Path, pg_url: str, redis_url: str, report: list[Outcome]) -> None:
    require_file(LIBFAKETIME, package="libfaketime", install="apt-get install faketime")
    site = Site(tmp_path / "site", database_url=pg_url, broker_url=redis_url)
    site.prepare()
    site.start_standin()
    assert site.standin is not None
    signing = subprocess.run([VOICEMAIL, "keys", "init-signing"], env=site.env(), capture_output=True, text=True,
                             timeout=60)
    assert signing.returncode == 0, signing.stderr
    expected: list[Expected] = []
    refusals = 0
    started = time.monotonic()
    try:
        for phase, offset in enumerate(("+2h", "-2h")):
            env = skewed(offset)
            probe = subprocess.run(["date", "+%s"], env={**os.environ, **env}, capture_output=True, text=True)
            assert abs(int(probe.stdout) - time.time()) > 7000, "libfaketime did not shift the clock"
            run = site.spawn("run", "--no-web", log=f"run-{phase}", **env)
            worker = site.spawn("worker", "--pool", "solo", log=f"worker-{phase}", **env)
            wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
            for n in range(PER_PHASE):
                caller, context = CALLERS[n % len(CALLERS)]
                audio = make_wav(0.5, seed=900 + 10 * phase + n)
                msg_id = site.standin.leave_message("2001@default", caller, caller_context=context, audio=audio)
                assert msg_id is not None
                expected.append(Expected("2001@default", msg_id, audio))
            try:
                wait_for(lambda: site.sent() >= len(expected), 60, f"every message notified at {offset}")
            except AssertionError:
                print(site.logs())
                raise
            purge = subprocess.run([VOICEMAIL, "retention", "run"], env=site.env(**env), capture_output=True,
                                   text=True, timeout=60)
            assert purge.returncode != 0 and "nothing was destroyed" in purge.stderr + purge.stdout, purge
            refusals += 1
            for proc in (run, worker):
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)
            wait_for(lambda: site.standin.session_count() == 0, 30, "the listener to log out")  # type: ignore[union-attr]
        assert site.notification_attempts() == [1] * len(expected), "a notification was sent more than once"
        outcome = check(site, "host clock 2 h ahead, then 2 h behind the database (libfaketime)", expected,
                        mail_counts_from_outbox(site), recovery_seconds=None,
                        note=f"run and worker skewed, messages flowing; every notification sent at its first "
                        f"attempt (no lease / stale_after misfire); retention refused {refusals} of 2 runs "
                        f"(skew above retention_max_clock_skew), nothing destroyed; "
                        f"{time.monotonic() - started:.0f} s")
        report.append(outcome)
        assert outcome.violations == [], outcome.violations
    finally:
        site.stop_all()
