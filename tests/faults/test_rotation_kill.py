"""Crash: `kill -9` a `voicemail keys rotate` half-way through re-wrapping. The rerun resumes the same
rotation (no third KEK), every message still opens, and the old KEK can be destroyed afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.unit.lifecycle.support import Site, messages, open_audio, seed
from voicemail.lifecycle.tables import key_rotations

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
COUNT = 400


def voicemail(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voicemail.cli", *args], env=site.env(), capture_output=True,
                          text=True, timeout=120)


def under(site: Site, kek: str) -> int:
    c = site.container()
    try:
        with c.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(messages)
                                    .where(messages.c.kek_id == kek)).scalar_one())
    finally:
        c.close()


def test_rotation_killed_halfway_resumes_and_every_message_still_opens(tmp_path: Path, pg_url: str) -> None:
    site = Site(tmp_path / "site", pg_url)
    c = site.container()
    seeded = [seed(c, age_days=1 + i / 100, size=300) for i in range(COUNT)]
    old = c.keyring.current_kek_id()
    c.close()

    doomed = subprocess.Popen([sys.executable, "-m", "voicemail.cli", "keys", "rotate", "--batch", "10",
                               "--throttle", "0.05"], env=site.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while under(site, old) > COUNT // 2:
        assert doomed.poll() is None, doomed.communicate()
        assert time.monotonic() < deadline, "the rotation made no progress"
        time.sleep(0.05)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    assert doomed.returncode == -signal.SIGKILL
    left = under(site, old)
    assert 0 < left < COUNT  # really killed half-way: some rows on each KEK

    rerun = voicemail(site, "keys", "rotate")
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed rotation" in rerun.stdout and f"{left} data key(s) re-wrapped" in rerun.stdout
    assert under(site, old) == 0
    c = site.container()
    assert len(c.keyring.kek_ids()) == 2  # the rerun resumed; it did not make a third KEK
    with c.engine.connect() as conn:
        assert conn.execute(select(key_rotations.c.finished_at)).scalar() is not None
    for mid, audio in seeded:
        assert open_audio(c, mid) == audio
    c.close()

    retired = voicemail(site, "keys", "retire", old)
    assert retired.returncode == 0, retired.stderr
    assert "destroyed" in retired.stdout
    c = site.container()
    assert old not in c.keyring.kek_ids()
    for mid, audio in seeded[:: COUNT // 20]:
        assert open_audio(c, mid) == audio
    c.close()
    status = voicemail(site, "keys", "status")
    assert status.returncode == 0 and "current" in status.stdout and f"data keys: {COUNT}" in status.stdout
    assert "destroyed" in status.stdout  # the old KEK, listed as destroyed
