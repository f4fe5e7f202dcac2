"""A stand-in whose event loop is starved (a busy machine) still lets callers leave their messages:
each half of a call keeps its place on the call's own timeline, so a half that lags behind finishes
what it played before the point where its peer hung up, as it would on a real Asterisk."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from voicemail.standin import AsteriskStandin, StandinConfig


async def _starve(stop: asyncio.Event, block_s: float) -> None:
    """Hold the event loop for ``block_s`` at a time, as a machine short of CPU does."""
    while not stop.is_set():
        time.sleep(block_s)
        await asyncio.sleep(0)


async def _leave_while_starved(spool: Path, count: int) -> list[str | None]:
    standin = AsteriskStandin(StandinConfig(spool_dir=spool, timing="fast"))
    await standin.start()
    stop = asyncio.Event()
    starving = asyncio.create_task(_starve(stop, 0.15))
    try:
        return [await standin.leave_message("1001@default", '"Some One" <5551234>') for _ in range(count)]
    finally:
        stop.set()
        await starving
        await standin.stop()


def test_messages_are_recorded_when_the_event_loop_lags_behind_the_call(tmp_path: Path) -> None:
    ids = asyncio.run(_leave_while_starved(tmp_path / "voicemail", 4))
    assert None not in ids
    inbox = tmp_path / "voicemail" / "default" / "1001" / "INBOX"
    assert sorted(p.name for p in inbox.glob("msg*.txt")) == [f"msg{i:04d}.txt" for i in range(4)]
    for txt in inbox.glob("msg*.txt"):
        duration = next(line for line in txt.read_text().splitlines() if line.startswith("duration="))
        assert int(duration.split("=")[1]) > 0
