"""Lower this process's CPU and disk priority, so Asterisk keeps recording while a bulk job runs.

CPU: ``os.setpriority`` (nice), only ever raised: a process already nicer than asked stays as it is (an
unprivileged process may not lower its nice value, and a bulk job is not to be sped up by it). Disk:
Linux ``ioprio_set(2)`` (what ``ionice`` calls): class idle (disk time only when nobody else wants it) or
best-effort at its lowest level. Elsewhere the disk part is skipped and said so.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import platform

IDLE, LOW, NORMAL = "idle", "low", "normal"
_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "arm64": 30}
_IOPRIO_WHO_PROCESS = 1
_CLASS_SHIFT = 13
_CLASS_BE, _CLASS_IDLE = 2, 3


def lower_priority(level: str) -> str:
    """Apply ``level`` (idle | low | normal) to this process; returns what was done, in words."""
    if level == NORMAL:
        return "normal CPU and disk priority"
    _raise_nice(19 if level == IDLE else 10)
    ioprio = (_CLASS_IDLE << _CLASS_SHIFT) if level == IDLE else (_CLASS_BE << _CLASS_SHIFT) | 7
    number = _IOPRIO_SET.get(platform.machine())
    name = ctypes.util.find_library("c")
    if number is None or platform.system() != "Linux" or not name:
        return f"CPU priority lowered (nice {os.getpriority(os.PRIO_PROCESS, 0)}); disk priority unchanged " \
               "(ioprio_set is Linux only)"
    libc = ctypes.CDLL(name, use_errno=True)
    if libc.syscall(number, _IOPRIO_WHO_PROCESS, 0, ioprio) != 0:
        err = ctypes.get_errno()
        return f"CPU priority lowered; disk priority unchanged ({os.strerror(err)})"
    disk = "idle class" if level == IDLE else "best-effort, lowest level"
    return f"CPU priority lowered (nice {os.getpriority(os.PRIO_PROCESS, 0)}), disk priority {disk}"


def _raise_nice(wanted: int) -> None:
    """Set the nice value to ``wanted`` unless it is at least that already; never fails on it."""
    if os.getpriority(os.PRIO_PROCESS, 0) >= wanted:
        return
    with contextlib.suppress(OSError):  # e.g. a container that refuses it: the job runs at the priority it has
        os.setpriority(os.PRIO_PROCESS, 0, wanted)
