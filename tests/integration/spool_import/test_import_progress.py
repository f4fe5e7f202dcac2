"""`voicemail import` on a terminal draws a progress bar on standard error: the count done of the total, the
rate (messages per second) and, once it can be estimated, the time left; the summary stays on standard
output. Run in a pseudo-terminal, as an operator would; the import is slowed (--rate) so the bar is drawn
more than once."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import threading

from tests.integration.pipeline.harness import VOICEMAIL, Site
from tests.integration.spool_import.conftest import fill

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_a_terminal(site: Site, *args: str) -> tuple[int, str, str]:
    """(exit code, standard output, what the terminal showed on standard error)."""
    master, slave = pty.openpty()
    shown: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the last writer closed the terminal
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc = subprocess.Popen([VOICEMAIL, "import", *args], env=site.env(COLUMNS="120"), stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    out, _ = proc.communicate(timeout=300)
    reader.join(10)
    os.close(master)
    return proc.returncode, out.decode(), ANSI.sub("", b"".join(shown).decode(errors="replace"))


def test_the_progress_bar_shows_the_count_the_rate_and_the_time_left(site: Site) -> None:
    fill(site, mailboxes=3, messages=16)
    code, out, terminal = run_on_a_terminal(site, "--rate", "5", "--batch", "1")
    assert code == 0, terminal
    assert "imported: 16" in out and "importing" not in out  # the bar is on standard error only
    frames = [f.strip() for f in re.split(r"[\r\n]+", terminal) if f.strip().startswith("importing")]
    assert len(frames) >= 3, terminal
    counts = [int(m.group(1)) for f in frames if (m := re.search(r"\b(\d+)/16\b", f))]
    assert counts == sorted(counts) and counts[-1] == 16 and counts[0] < 16, frames  # the count, as it grows
    rates = [int(m.group(1)) for f in frames if (m := re.search(r"\b(\d+)/s\b", f))]
    assert rates and all(1 <= r <= 20 for r in rates), frames  # about 5 a second
    assert any(re.search(r"\b00:00:0\d\b", f) for f in frames), frames  # the time left, once estimated


def test_messages_in_custody_already_move_the_bar_but_not_the_rate_or_the_time_left(site: Site) -> None:
    fill(site, mailboxes=3, messages=20)
    assert run_on_a_terminal(site)[0] == 0  # the first 20 are in custody
    fill(site, mailboxes=3, messages=10, seed=2)  # 10 more, as old
    code, out, terminal = run_on_a_terminal(site, "--rate", "4", "--batch", "1")
    assert code == 0, terminal
    assert "imported: 10" in out and "already in custody: 20" in out
    frames = [f.strip() for f in re.split(r"[\r\n]+", terminal) if f.strip().startswith("importing")]
    counts = [int(m.group(1)) for f in frames if (m := re.search(r"\b(\d+)/30\b", f))]
    assert counts == sorted(counts) and counts[-1] == 30, frames  # the bar reaches its end
    assert any(20 <= c < 30 for c in counts), frames  # the 20 in custody count as done
    rates = [int(m.group(1)) for f in frames if (m := re.search(r"\b(\d+)/s\b", f))]
    assert rates and all(r <= 8 for r in rates), frames  # about 4 a second: the 20 skipped do not count
    left = [int(m.group(1)) * 60 + int(m.group(2)) for f in frames if (m := re.search(r"\b00:(\d\d):(\d\d)\b", f))]
    assert left and all(s <= 4 for s in left), frames  # at most 10 left at 4 a second
