"""Crash: `kill -9` the worker in the middle of sealing, and again between commit and strip.
After a restart every message is sealed exactly once and notified at most once; nothing is lost."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.pipeline.harness import CALLERS, VOICEMAIL, Site, make_wav, sha256, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.mark.parametrize("failpoint", ["seal.mid", "seal.after_commit", "strip.before_commit", "notify.after_send"])
def test_worker_killed_mid_custody_loses_nothing(tmp_path: Path, pg_url: str, redis_url: str,
                                                 failpoint: str) -> None:
    site = Site(tmp_path / "site", database_url=pg_url, broker_url=redis_url)
    site.prepare()
    site.start_standin()
    assert site.standin is not None
    try:
        doomed = site.spawn("worker", "--pool", "solo", log="worker-doomed", VOICEMAIL_FAILPOINTS=failpoint)
        site.spawn("run", log="run")
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
        left = []
        for i in range(3):
            callerid, context = CALLERS[i]
            audio = make_wav(0.5, seed=100 + i)
            msg_id = site.standin.leave_message("1001@default", callerid, caller_context=context, audio=audio)
            left.append((msg_id, audio))
        wait_for(lambda: doomed.poll() is not None, 30, f"the worker to die at {failpoint}")
        assert doomed.returncode == -9, site.logs()
        with site.store() as store:
            assert store.summary().get("notifications.sent", 0) < 3  # the crash really interrupted custody
        site.spawn("worker", "--pool", "solo", log="worker")
        try:
            wait_for(lambda: site.sent() >= 3, 60, "all notifications after the restart")
        except AssertionError:
            print(site.logs())
            raise
        with site.store() as store:
            assert store.summary() == {"messages.stripped": 3, "notifications.sent": 3}
        for msg_id, audio in left:
            assert msg_id is not None
            assert sha256(site.open_sealed("1001@default", msg_id)) == sha256(audio)
        assert site.plaintext_left() == []
        # whatever an interrupted seal left in the vault is removed by the next reconciliation
        done = subprocess.run([VOICEMAIL, "reconcile"], env=site.env(VOICEMAIL_VAULT_GC_AFTER="0"),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        blobs = [p for p in (site.root / "vault").rglob("*") if p.is_file()]
        assert len(blobs) == 3
        assert len(site.emls()) == 3
        attempts = site.notification_attempts()
        if failpoint == "notify.after_send":  # the mail left, the crash hid it: at most one more send
            assert attempts[-1] == 2 and all(a <= 2 for a in attempts)
        else:  # a crash in custody never repeats a notification
            assert attempts == [1, 1, 1]
    finally:
        site.stop_all()
