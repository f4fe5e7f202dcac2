"""Our conformance replayer (voicemail.standin.conformance) replays recorded Asterisk 22.10.1 sessions
against a fresh stand-in and must find nothing that differs (q1, q1b and q4 start from a fresh server
with an empty spool)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.standin.standin_client import CAPTURES, running
from voicemail.standin.conformance import main


@pytest.mark.slow
@pytest.mark.parametrize("capture", ["q1-voicemail-session", "q1b-callerid-variants", "q4-async-agi"])
def test_replaying_a_real_asterisk_session_finds_no_difference(
        capture: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorded = CAPTURES / f"{capture}.ami.txt"
    with running(tmp_path / "voicemail", timing="fast") as standin:
        status = main([str(recorded), "--port", str(standin.port), "--settle", "2"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.rstrip().splitlines()[-1].endswith(" actions replayed, 0 differences"), out
