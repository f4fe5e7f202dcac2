"""Our conformance replayer (voicemail.standin.conformance) replays recorded Asterisk 22.10.1 sessions
against a fresh stand-in and must find nothing that differs (q1, q1b and q4 start from a fresh server
with an empty spool).

Of the phone captures, q9c, q10 and q11 replay from a fresh start too (the replayer maps channels and
does not compare channel numbers). q9 and q9b cannot pass through the replayer, on any server: it sends
each action as soon as the previous one is answered, while the q9 script waited for its caller's
schedule (the message playback was started 4.6 s after the previous result, so the key pressed at a
fixed time interrupts it at another position), and the q9b script queued a command while another was
playing (the replayer only sends it once that one's result came, after the caller hung up). Those two
are checked message for message by test_standin_phone_fidelity, which keeps the recorded timing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CAPTURES
from tests.integration.standin.standin_client import running
from voicemail.standin.audio import pcm_wav
from voicemail.standin.conformance import main

STAGED = "var/run/voicemail-stage/test-msg.wav"  # q11 (f) plays it by absolute path
STAGED_SAMPLES = 79000


@pytest.mark.slow
@pytest.mark.parametrize("capture,timing", [
    ("q1-voicemail-session", "fast"), ("q1b-callerid-variants", "fast"), ("q4-async-agi", "fast"),
    ("q9c-phone-menu-concurrent", "lab"), ("q10-astdb", "fast"), ("q11-originate-outcomes", "fast"),
])
def test_replaying_a_real_asterisk_session_finds_no_difference(
        capture: str, timing: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorded = CAPTURES / f"{capture}.ami.txt"
    root = tmp_path / "root"
    (root / STAGED).parent.mkdir(parents=True)
    (root / STAGED).write_bytes(pcm_wav(bytes(2 * STAGED_SAMPLES)))
    settle = "0.5" if capture.startswith("q9") else "2"  # a menu call must get its PIN prompt at once
    with running(tmp_path / "voicemail", timing=timing, file_root=root) as standin:
        status = main([str(recorded), "--port", str(standin.port), "--settle", settle])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.rstrip().splitlines()[-1].endswith(" actions replayed, 0 differences"), out
