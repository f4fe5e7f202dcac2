"""Time for the stand-in: a wall clock for timestamps and a scale for how long media takes.

``lab`` timing plays every prompt as long as the lab's real Asterisk did (a message takes ~11 s);
``fast`` plays them at 1 % of that, so the same events arrive in the same order within ~0.1 s.
Waits that a client controls (an Originate ``Application: Wait`` that an Async AGI session runs under)
are never shortened. The durations below were measured in the captures (q1, q1b, q4, q5, q7b).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float: ...


class WallClock:
    def time(self) -> float:
        return time.time()


class VirtualClock:
    """A clock that runs ``1/scale`` times faster than real time from ``base`` (for replaying lab
    timestamps quickly in checks against the captures)."""

    def __init__(self, base: float, scale: float) -> None:
        self._base = base
        self._scale = scale
        self._mono0 = time.monotonic()

    def time(self) -> float:
        return self._base + (time.monotonic() - self._mono0) / self._scale


# Seconds each sound plays in the lab (CEL STREAM_BEGIN -> STREAM_END).
SOUND_SECONDS = {
    "vm-theperson": 2.0374,
    "digits/0": 0.8726,
    "digits/1": 0.9091,
    "digits/2": 0.7449,
    "vm-isunavail": 1.2425,
    "vm-isonphone": 1.2,
    "vm-intro": 5.0,
    "beep": 0.4233,
    "vm-mailboxfull": 4.1414,
    "hello-world": 1.4043,
    "custom/lab-message": 10.1129,
}
DEFAULT_SOUND_SECONDS = 0.85
# samples (8 kHz) that STREAM FILE reports as endpos for a complete playback
SOUND_SAMPLES = {"hello-world": 11234}


def sound_seconds(name: str) -> float:
    return SOUND_SECONDS.get(name, DEFAULT_SOUND_SECONDS)


def sound_samples(name: str) -> int:
    return SOUND_SAMPLES.get(name, int(sound_seconds(name) * 8000))


@dataclass(frozen=True)
class Timing:
    """How long things take. ``scale`` multiplies every media duration."""

    name: str
    scale: float

    @classmethod
    def named(cls, name: str) -> Timing:
        return cls(name, 1.0 if name == "lab" else 0.01)

    async def media(self, lab_seconds: float) -> None:
        """Sleep for a media duration (scaled)."""
        await asyncio.sleep(max(0.0, lab_seconds * self.scale))

    def scaled(self, lab_seconds: float) -> float:
        return max(0.0, lab_seconds * self.scale)

    # Lab constants
    wait_before_prompt = 1.0          # vmlab play: Wait(1)
    agi_poll = 0.1                    # res_agi checks its command queue every 100 ms
    agi_start_delay = 0.005
    failed_login_pause = 1.0          # manager.c sleeps 1 s before "Authentication failed"
