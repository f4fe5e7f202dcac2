"""`kill -9` of a worker in the middle of a custody batch: the messages waiting when the listener starts
are discovered by one pass and handed to one batch task; the worker is SIGKILLed (failpoint ``kill``) at
its first blob (``seal.mid``), once half the batch's recordings are swapped for placeholders and nothing
of the strip is committed (``batch.mid_strip``), or after the batch's first e-mail and before any send
is recorded (``notify.after_send``). A restarted worker and the sweeper finish the messages one by one
(a message whose run died is never batched again). Every invariant is checked over the whole site.

Each kill runs with a batch below the sync threshold (6 messages: each blob, placeholder and e-mail
fsynced on its own) and one well above it (16: one sync of the file system per custody step, one sync
of the outbox for the notification batch, deferred to the batch's end)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.invariants import Expected, Outcome, check, mail_counts_from_outbox
from tests.integration.pipeline.harness import CALLERS, Site, make_wav, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
BOX = "1001@default"
SYNC_FROM = 8  # BatchCustody's and BatchNotifier's threshold for one sync per step
COUNTS = {6: "each file fsynced", 16: "one sync of the file system per step"}
FAST = {"VOICEMAIL_STALE_AFTER": "2", "VOICEMAIL_SWEEP_INTERVAL": "1"}
WHERE = {"seal.mid": "first blob of the batch streamed",
         "batch.mid_strip": "half the batch swapped for placeholders, strip uncommitted",
         "notify.after_send": "first e-mail of the batch out, no send recorded"}


@pytest.mark.parametrize("count", list(COUNTS))
@pytest.mark.parametrize("failpoint", list(WHERE))
def test_worker_killed_mid_batch_loses_nothing_and_leaves_no_plaintext(
        tmp_path: Path, pg_url: str, redis_url: str, report: list[Outcome], failpoint: str, count: int) -> None:
    site = Site(tmp_path / "site", database_url=pg_url, broker_url=redis_url)
    site.prepare()
    site.start_standin()
    assert site.standin is not None
    expected: list[Expected] = []
    try:
        for n in range(count):  # in the spool before the listener starts: its first pass finds them all
            callerid, context = CALLERS[n % len(CALLERS)]
            audio = make_wav(0.5, seed=700 + n)
            msg_id = site.standin.leave_message(BOX, callerid, caller_context=context, audio=audio)
            assert msg_id is not None
            expected.append(Expected(BOX, msg_id, audio))
        doomed = site.spawn("worker", "--pool", "solo", log="worker-doomed", VOICEMAIL_FAILPOINTS=failpoint, **FAST)
        site.spawn("run", "--no-web", log="run", **FAST)
        wait_for(lambda: doomed.poll() is not None, 60, f"the worker to die at {failpoint}")
        assert doomed.returncode == -9, site.logs()
        killed_at = time.monotonic()
        assert site.sent() == 0  # the kill landed inside the batch: nothing of it is recorded as sent
        doomed_log = (site.root / "worker-doomed.log").read_text(errors="replace")
        assert f"custody batch: sealing {count} message(s), {COUNTS[count]}" in doomed_log, site.logs()
        if failpoint == "notify.after_send":  # the notification batch took the path its size chose
            mode = "made durable by the mailer once at the end" if count >= SYNC_FROM else "each e-mail made durable"
            assert f"notification batch: sending {count}, {mode}" in doomed_log, site.logs()
        if failpoint == "batch.mid_strip":
            assert len(site.plaintext_left()) < count  # the kill came after some of the swaps
        site.spawn("worker", "--pool", "solo", log="worker", **FAST)  # the service manager's restart
        try:
            wait_for(lambda: site.sent() >= count, 90, "every message of the batch to be notified")
        except AssertionError:
            print(site.logs())
            raise
        recovery = time.monotonic() - killed_at
        outcome = check(site, f"worker SIGKILLed mid-batch ({count} messages, one batch): {failpoint}", expected,
                        mail_counts_from_outbox(site), recovery_seconds=recovery,
                        note=f"{WHERE[failpoint]}; {COUNTS[count]}; recovery = kill until every message notified "
                        "(worker restart included); the outbox mailer keeps one file per notification (over SMTP "
                        "the batch's e-mails sent before the kill may arrive twice)")
        report.append(outcome)
        assert outcome.violations == [], outcome.violations
    finally:
        site.stop_all()
