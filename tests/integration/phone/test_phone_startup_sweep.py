"""`voicemail run` removes, when it starts, what a crashed run of the telephone menu left behind: every
staging file (decrypted audio) in phone_staging_dir, however recent (no call survives a restart, so none is
in use), and every greeting recording that was neither kept nor discarded. Other files stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.integration.pipeline.harness import Site, wait_for


def test_voicemail_run_sweeps_leftover_staging_files_and_scratch_greetings_at_start(tmp_path: Path) -> None:
    s = Site(tmp_path / "site", database_url=f"sqlite:///{tmp_path / 'site' / 'vm.db'}")
    s.prepare()
    stage = tmp_path / "site" / "stage"
    stage.mkdir(mode=0o750)
    fresh = stage / "vmmenu-3f9a0c1d2e4b5a6978877665.wav"  # a call's file, written a moment before the crash
    fresh.write_bytes(b"RIFF plaintext audio")
    stale = stage / "vmmenu-0a1b2c3d4e5f60718293a4b5.wav"
    stale.write_bytes(b"RIFF plaintext audio")
    os.utime(stale, (time.time() - 7 * 86400, time.time() - 7 * 86400))
    other = stage / "notes.txt"  # not a menu file
    other.write_text("kept")
    folder = s.spool / "default" / "1001"
    folder.mkdir(parents=True)
    scratch = folder / "vmmenu-unavail-5e6f7a8b.wav"  # a greeting being recorded when the run crashed
    scratch.write_bytes(b"RIFF half a greeting")
    greeting = folder / "unavail.wav"  # a kept greeting: Asterisk's
    greeting.write_bytes(b"RIFF greeting")
    s.start_standin()
    try:
        s.spawn("run", "--no-web", log="run", VOICEMAIL_PHONE_STAGING_DIR=str(stage))
        wait_for(lambda: s.standin is not None and s.standin.session_count() >= 1, 30, "voicemail run to log in")
        try:
            wait_for(lambda: not fresh.exists() and not stale.exists() and not scratch.exists(), 10,
                     "the leftovers to be removed")
        except AssertionError:
            print(s.logs())
            raise
        assert sorted(p.name for p in stage.iterdir()) == ["notes.txt"] and other.read_text() == "kept"
        assert greeting.read_bytes() == b"RIFF greeting"
        assert s.procs[0].poll() is None  # still running
    finally:
        s.stop_all()
