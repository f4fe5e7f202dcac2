"""Faults injected from outside a process: what the kernel or an operator does to it.

``KillOnOpen`` plays the out-of-memory killer or a crashing codec: it watches a process tree and SIGKILLs
any process that has a given file open (the poison recording), every time, for as long as it runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc/<pid>/task/<tid>/children)."""
    seen, todo = [], [pid]
    while todo:
        current = todo.pop()
        seen.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").glob("*"))
        except OSError:  # it exited while we looked
            continue
        for task in tasks:
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return seen


def has_open(pid: int, target: Path) -> bool:
    try:
        fds = list(Path(f"/proc/{pid}/fd").glob("*"))
    except OSError:  # it exited while we looked
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(fd) == str(target):
                return True
    return False


class KillOnOpen:
    """SIGKILL whichever process of ``root_pid``'s tree opens ``target`` (checked every ``interval`` s);
    ``once``: only the first one (a single crash in the middle of reading it); ``when``: and only once
    this also holds (e.g. half of it has been written elsewhere)."""

    def __init__(self, root_pid: int, target: Path, interval: float = 0.002, *, once: bool = False,
                 when: Callable[[], bool] | None = None) -> None:
        self.root_pid, self.target, self.interval, self.once = root_pid, target.resolve(), interval, once
        self.when = when
        self.killed: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="kill-on-open")

    def start(self) -> KillOnOpen:
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            for pid in process_tree(self.root_pid):
                if has_open(pid, self.target) and self._ready():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        self.killed.add(pid)
                    if self.once:
                        return

    def _ready(self) -> bool:
        """``when`` holds; a file it looks at may vanish meanwhile (a temporary blob renamed): not yet."""
        try:
            return self.when is None or self.when()
        except OSError:
            return False

    @property
    def kills(self) -> int:
        """Processes killed (a dying process may be seen, and signalled, more than once)."""
        return len(self.killed)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
