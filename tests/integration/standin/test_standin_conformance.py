"""The shared conformance tool replays recorded Asterisk 22.10.1 sessions against a fresh stand-in and
must find nothing that differs (q1, q1b and q4 start from a fresh server with an empty spool)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.standin.standin_client import CAPTURES, SHARED_TOOLS, running

TOOL = SHARED_TOOLS / "ami_conformance.py"


@pytest.mark.slow
@pytest.mark.parametrize("capture", ["q1-voicemail-session", "q1b-callerid-variants", "q4-async-agi"])
def test_conformance_tool_finds_no_difference_from_real_asterisk(capture: str, tmp_path: Path) -> None:
    recorded = CAPTURES / f"{capture}.ami.txt"
    if not recorded.is_file():
        pytest.skip(f"capture {recorded} not found (set VOICEMAIL_CAPTURES)")
    if not TOOL.is_file():
        pytest.skip(f"conformance tool {TOOL} not found (set VOICEMAIL_SHARED_TOOLS)")
    with running(tmp_path / "voicemail", timing="fast") as standin:
        result = subprocess.run([sys.executable, str(TOOL), str(recorded), "--port", str(standin.port),
                                 "--settle", "2"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 differences" in result.stdout
