"""A poison recording: every worker process that opens it is killed (a codec crash, the out-of-memory
killer), from outside, every time. Its custody is parked after custody_max_unfinished deaths in a row
(counted in the database before the work starts), with an alert, instead of being re-run forever; the
other messages go through; what the killed runs left in the vault is collected; and once the cause is
gone, `voicemail messages pending` shows it parked and `voicemail messages retry` seals it."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.invariants import Expected, Outcome, check, mail_counts_from_outbox
from tests.faults.killers import KillOnOpen
from tests.integration.pipeline.harness import CALLERS, VOICEMAIL, Site, make_wav, sha256, wait_for
from voicemail.domain.models import MailboxRef

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
LIMIT = 3


def spool_audio_of(site: Site, msg_id: str) -> Path:
    for txt in site.spool.rglob("msg*.txt"):
        if f"msg_id={msg_id}" in txt.read_text():
            return txt.with_suffix(".wav")
    raise AssertionError(f"{msg_id} not in the spool")


def parked_ids(site: Site) -> set[str]:
    with site.store() as store:
        return {ref for _task, ref, _error, _n in store.dead_letters()}


def test_poison_recording_is_parked_after_the_limit_and_the_rest_goes_through(
        tmp_path: Path, pg_url: str, redis_url: str, report: list[Outcome]) -> None:
    site = Site(tmp_path / "site", database_url=pg_url, broker_url=redis_url)
    site.prepare()
    site.start_standin()
    assert site.standin is not None
    limits = {"VOICEMAIL_CUSTODY_MAX_UNFINISHED": str(LIMIT)}
    killer: KillOnOpen | None = None
    try:
        site.spawn("run", "--no-web", log="run", **limits)
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
        # an hour (57.6 MB): read for tens of ms even by the threaded seal, so the watcher (every 2 ms)
        # always catches it being read for the seal; ten minutes could be sealed between two looks
        poison_audio = make_wav(3600, seed=7)
        poison_id = site.standin.leave_message("1001@default", CALLERS[0][0], caller_context=CALLERS[0][1],
                                               audio=poison_audio)
        assert poison_id is not None
        # no worker runs yet: the seal task waits in the broker until the killer watches the recording
        worker = site.spawn("worker", "--pool", "prefork", "--concurrency", "1", log="worker", **limits)
        killer = KillOnOpen(worker.pid, spool_audio_of(site, poison_id)).start()
        expected = [Expected("1001@default", poison_id, poison_audio)]
        for i in range(2):
            audio = make_wav(1, seed=20 + i)
            msg_id = site.standin.leave_message("1002@default", CALLERS[1][0], caller_context=CALLERS[1][1],
                                                audio=audio)
            assert msg_id is not None
            expected.append(Expected("1002@default", msg_id, audio))
        started = time.monotonic()
        with site.store() as store:
            wait_for(lambda: (r := store.find(MailboxRef.parse("1001@default"), poison_id)) is not None
                     and r.id in parked_ids(site), 60, "the poison message to be parked")
            poison = store.find(MailboxRef.parse("1001@default"), poison_id)
        assert poison is not None
        parked_at = time.monotonic()
        parked_after = parked_at - started
        wait_for(lambda: site.sent() >= 2, 60, "the other two notifications")
        kills_at_park = killer.kills
        # past stale_after and a sweep since it was parked: the sweeper would have re-enqueued it by now
        time.sleep(max(0.0, 4 + 2 - (time.monotonic() - parked_at)))
        assert killer.kills == kills_at_park, "a parked message was run again"
        assert LIMIT <= kills_at_park <= LIMIT + 1, killer.kills  # +1: a redelivery racing the park
        assert worker.poll() is None  # the worker itself survives; only its pool processes died
        with site.store() as store:
            record = store.get(poison.id)
        assert record.state == "discovered" and record.attempts >= LIMIT - 1
        log = (site.root / "worker.log").read_text()
        assert f"ALERT message {poison.id} parked as dead letter" in log
        outcome = check(site, "poison recording (worker killed at every try)", expected,
                        mail_counts_from_outbox(site), stays_in_spool={poison_id},
                        recovery_seconds=parked_after,
                        note=f"parked after {kills_at_park} kills (limit {LIMIT}); its audio stays in the spool "
                             "(documented); recovery = first delivery until parked")
        report.append(outcome)
        assert outcome.violations == [], outcome.violations

        # the administrator sees it, with its error, and retries it once the cause is gone (the codec fixed)
        pending = subprocess.run([VOICEMAIL, "messages", "pending"], env=site.env(), capture_output=True,
                                 text=True, timeout=60)
        assert pending.returncode == 0, pending.stderr
        assert poison.id in pending.stdout and "PARKED" in pending.stdout and "CrashLoop" in pending.stdout
        killer.stop()
        retried = subprocess.run([VOICEMAIL, "messages", "retry", poison.id], env=site.env(), capture_output=True,
                                 text=True, timeout=60)
        assert retried.returncode == 0, retried.stderr
        assert "handed to the workers" in retried.stdout
        wait_for(lambda: site.sent() >= 3, 60, "the retried message to be sealed and notified")
        assert sha256(site.open_sealed("1001@default", poison_id)) == expected[0].sha256
        assert site.plaintext_left() == []
        assert Counter(mail_counts_from_outbox(site).values()) == Counter({1: 3})
    finally:
        if killer is not None:
            killer.stop()
        site.stop_all()
