"""Failpoints: a named point kills (default) or stops the process; unknown names and actions are refused."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from multiprocessing.context import ForkProcess
from pathlib import Path

import pytest

from voicemail.failpoints import Failpoints


def _hit(spec: str, name: str) -> None:
    Failpoints(spec).hit(name)
    os._exit(0)


def _run(spec: str, name: str) -> ForkProcess:
    proc = multiprocessing.get_context("fork").Process(target=_hit, args=(spec, name))
    proc.start()
    return proc


def test_a_point_kills_the_process_by_default() -> None:
    proc = _run("seal.mid", "seal.mid")
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL


def test_stop_freezes_the_process_until_it_is_killed_from_outside() -> None:
    proc = _run("strip.after_swap=stop", "strip.after_swap")
    assert proc.pid is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("T", "t"):
            break
        time.sleep(0.01)
    assert state in ("T", "t")
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL


def test_an_unarmed_point_does_nothing() -> None:
    proc = _run("seal.mid", "strip.after_swap")
    proc.join(10)
    assert proc.exitcode == 0


@pytest.mark.parametrize("spec", ["strip.nowhere", "seal.mid=explode"])
def test_unknown_points_and_actions_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="unknown failpoint"):
        Failpoints(spec)
