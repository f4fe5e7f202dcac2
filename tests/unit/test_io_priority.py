"""Lowering the import's priority changes this process's nice value and, on Linux, its disk priority."""

from __future__ import annotations

import os
import subprocess
import sys


def _in_child(level: str) -> str:
    code = ("import os; from voicemail.io_priority import lower_priority; "
            f"print(lower_priority({level!r})); print(os.getpriority(os.PRIO_PROCESS, 0))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_low_sets_nice_ten_and_says_what_it_did() -> None:
    said, nice = _in_child("low").splitlines()
    assert int(nice) >= min(10, 19) and "CPU priority lowered" in said
    if sys.platform == "linux" and os.uname().machine in ("x86_64", "aarch64"):
        assert "best-effort, lowest level" in said


def test_normal_changes_nothing() -> None:
    said, nice = _in_child("normal").splitlines()
    assert int(nice) == os.getpriority(os.PRIO_PROCESS, 0) and said.startswith("normal")
