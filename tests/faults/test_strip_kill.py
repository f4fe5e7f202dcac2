"""A worker killed (SIGKILL, from outside) between the placeholder swap and the unlink of the swapped-out
recording leaves the caller's audio in a hidden ``.vmswap`` file. The retried strip, or else the next
reconciliation, removes it because it hashes to the sealed copy; nothing is lost and no plaintext stays."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.pipeline.harness import CALLERS, VOICEMAIL, Site, make_wav, sha256, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def stopped(pid: int) -> bool:
    """True when the process is stopped (state T in /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


@pytest.mark.parametrize("cleanup", ["retry", "reconcile"])
def test_worker_killed_between_swap_and_unlink_leaves_no_plaintext(tmp_path: Path, pg_url: str, redis_url: str,
                                                                    cleanup: str) -> None:
    site = Site(tmp_path / "site", database_url=pg_url, broker_url=redis_url)
    site.prepare()
    site.start_standin()
    assert site.standin is not None
    try:
        doomed = site.spawn("worker", "--pool", "solo", log="worker-doomed",
                            VOICEMAIL_FAILPOINTS="strip.after_swap=stop")
        run = site.spawn("run", log="run")
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
        callerid, context = CALLERS[1]
        audio = make_wav(0.5, seed=7)
        msg_id = site.standin.leave_message("1001@default", callerid, caller_context=context, audio=audio)
        assert msg_id is not None
        wait_for(lambda: stopped(doomed.pid), 30, "the worker to stop itself between swap and unlink")
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
        assert doomed.returncode == -9

        left = site.plaintext_left()
        assert [p.name.endswith(".vmswap") and p.name.startswith(".msg") for p in left] == [True], left
        assert sha256(left[0].read_bytes()) == sha256(audio)  # the caller's audio, under the hidden name
        assert sha256(site.open_sealed("1001@default", msg_id)) == sha256(audio)  # already sealed

        if cleanup == "reconcile":
            os.killpg(run.pid, signal.SIGTERM)  # no sweeper: only the reconciliation below may act
            run.wait(10)
            wait_for(lambda: _reconcile(site) and site.plaintext_left() == [], 30,
                     "reconciliation to remove the leftover")
            site.spawn("run", log="run-2")
        site.spawn("worker", "--pool", "solo", log="worker")
        try:
            wait_for(lambda: site.sent() >= 1, 60, "the notification after the restart")
        except AssertionError:
            print(site.logs())
            raise
        with site.store() as store:
            assert store.summary() == {"messages.stripped": 1, "notifications.sent": 1}
        assert site.plaintext_left() == []
        assert sha256(site.open_sealed("1001@default", msg_id)) == sha256(audio)
        assert len(site.emls()) == 1
    finally:
        site.stop_all()


def _reconcile(site: Site) -> bool:
    done = subprocess.run([VOICEMAIL, "reconcile"], env=site.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return True
