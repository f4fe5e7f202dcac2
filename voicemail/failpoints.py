"""Fault injection for crash tests: a named point kills the process on the spot (like SIGKILL).

Enabled only through the ``failpoints`` setting (``VOICEMAIL_FAILPOINTS``), which is empty in
production. The crash tests use it to stop a worker at an exact step of the custody pipeline.
"""

from __future__ import annotations

import os
import signal

POINTS = ("seal.mid", "seal.after_commit", "strip.before_commit", "notify.after_send")


class Failpoints:
    def __init__(self, spec: str = "") -> None:
        self._armed = frozenset(p.strip() for p in spec.split(",") if p.strip())
        unknown = self._armed - set(POINTS)
        if unknown:
            raise ValueError(f"unknown failpoints: {sorted(unknown)} (known: {', '.join(POINTS)})")

    def hit(self, name: str) -> None:
        if name in self._armed:
            os.kill(os.getpid(), signal.SIGKILL)

    def __bool__(self) -> bool:
        return bool(self._armed)
