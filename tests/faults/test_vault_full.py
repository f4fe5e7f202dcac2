"""A full vault volume (a small tmpfs): seals fail with ENOSPC. They are retried with backoff on their own
(a full disk is transient), the outage raises one ALERT log line, nothing is parked as dead letter and no
half-written file stays behind; once space is freed every message is sealed and notified."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.conftest import require_root
from tests.faults.invariants import Expected, Outcome, check, mail_counts_from_outbox
from tests.integration.pipeline.harness import CALLERS, Site, make_wav, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
# few, short retries: with a retry-count bound these would park the seals within seconds
QUICK_RETRIES = {"VOICEMAIL_TASK_MAX_RETRIES": "2", "VOICEMAIL_RETRY_BACKOFF_MAX": "2"}


def test_seals_wait_out_a_full_vault_and_complete_once_space_is_freed(
        tmp_path: Path, pg_url: str, redis_url: str, report: list[Outcome]) -> None:
    require_root("mounting a small tmpfs as the vault")
    site = Site(tmp_path / "site", database_url=pg_url, broker_url=redis_url)
    site.prepare()
    vault = site.root / "vault"
    vault.mkdir(mode=0o700, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(vault)], check=True)
    try:
        site.start_standin()
        site.spawn("run", "--no-web", log="run", **QUICK_RETRIES)
        site.spawn("worker", "--pool", "solo", log="worker", **QUICK_RETRIES)
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
        expected: list[Expected] = []
        for n, seconds in enumerate((10, 60, 60)):  # 160 kB fits; two of 960 kB do not
            audio = make_wav(seconds, seed=900 + n)
            msg_id = site.standin.leave_message("1001@default", CALLERS[n][0],  # type: ignore[union-attr]
                                                caller_context=CALLERS[n][1], audio=audio)
            assert msg_id is not None
            expected.append(Expected("1001@default", msg_id, audio))
        log = site.root / "worker.log"
        wait_for(lambda: log.read_text().count("No space left on device") >= 6, 60,
                 "several seals to fail for lack of space")
        with site.store() as store:
            assert store.dead_letters() == []  # waiting, not parked
        assert log.read_text().count("ALERT vault volume full") == 1
        subprocess.run(["mount", "-o", "remount,size=64m", str(vault)], check=True)
        freed = time.monotonic()
        wait_for(lambda: site.sent() >= 3, 30, "every notification once space is freed")
        recovered = time.monotonic() - freed
        assert "vault volume has space again" in log.read_text()
        outcome = check(site, "vault volume full (ENOSPC on a 1 MB tmpfs), then space freed", expected,
                        mail_counts_from_outbox(site), recovery_seconds=recovered,
                        note="recovery = space freed until every message notified")
        report.append(outcome)
        assert outcome.violations == [], outcome.violations
        with site.store() as store:
            assert store.dead_letters() == []
    finally:
        site.stop_all()
        subprocess.run(["umount", "-l", str(vault)], check=False)
