"""Fault injection for crash tests: a named point kills the process on the spot (like SIGKILL).

Enabled only through the ``failpoints`` setting (``VOICEMAIL_FAILPOINTS``), which is empty in
production. The crash tests use it to stop a worker at an exact step of the custody pipeline.
``name=stop`` makes the process stop itself (SIGSTOP) at that point instead, so that a test can kill
it from outside (SIGKILL) while it is frozen there.
"""

from __future__ import annotations

import os
import signal
import threading

POINTS = ("seal.mid", "seal.after_commit", "strip.after_swap", "strip.before_commit", "notify.after_send",
          "batch.mid_strip",
          "import.before_commit", "import.after_commit", "move.before_ami")
ACTIONS = ("kill", "stop")


class Failpoints:
    def __init__(self, spec: str = "") -> None:
        armed: dict[str, str] = {}
        for item in (p.strip() for p in spec.split(",")):
            if item:
                name, _, action = item.partition("=")
                armed[name.strip()] = action.strip() or "kill"
        self._armed = armed
        unknown = set(armed) - set(POINTS)
        if unknown:
            raise ValueError(f"unknown failpoints: {sorted(unknown)} (known: {', '.join(POINTS)})")
        bad = {a for a in armed.values() if a not in ACTIONS}
        if bad:
            raise ValueError(f"unknown failpoint actions: {sorted(bad)} (known: {', '.join(ACTIONS)})")

    def hit(self, name: str) -> None:
        action = self._armed.get(name)
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "stop":  # directed at this thread, so it stops here, whichever thread of the process hits
            signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)  # the point (the whole process stops)

    def __bool__(self) -> bool:
        return bool(self._armed)
