"""Lowering the import's priority changes this process's nice value and, on Linux, its disk priority."""

from __future__ import annotations

import os
import subprocess
import sys


def _in_child(level: str, nice: int = 0) -> str:
    """What lower_priority said and the nice value after it, in a child started ``nice`` steps nicer."""
    code = ("import os; from voicemail.io_priority import lower_priority; "
            f"print(lower_priority({level!r})); print(os.getpriority(os.PRIO_PROCESS, 0))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          preexec_fn=(lambda: os.nice(nice)) if nice else None).stdout


def test_low_sets_nice_ten_and_says_what_it_did() -> None:
    said, nice = _in_child("low").splitlines()
    assert int(nice) >= min(10, 19) and "CPU priority lowered" in said
    if sys.platform == "linux" and os.uname().machine in ("x86_64", "aarch64"):
        assert "best-effort, lowest level" in said


def test_normal_changes_nothing() -> None:
    said, nice = _in_child("normal").splitlines()
    assert int(nice) == os.getpriority(os.PRIO_PROCESS, 0) and said.startswith("normal")


def test_low_keeps_a_process_that_is_nicer_already_as_it_is() -> None:
    start = os.getpriority(os.PRIO_PROCESS, 0)
    said, nice = _in_child("low", nice=max(0, 15 - start)).splitlines()  # at nice 15: 10 would need privilege
    assert int(nice) == max(15, start) and "CPU priority lowered" in said


def test_idle_raises_the_nice_value_of_a_nicer_process_to_nineteen() -> None:
    start = os.getpriority(os.PRIO_PROCESS, 0)
    _, nice = _in_child("idle", nice=max(0, 15 - start)).splitlines()
    assert int(nice) == 19
