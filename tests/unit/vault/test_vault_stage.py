"""A pipeline stage works on its items in order on its own thread, hands each back once done, raises
the first error to the caller, and leaves no thread behind."""

from __future__ import annotations

import threading
import weakref

import pytest

from voicemail.vault.stage import Stage


def test_items_come_back_in_order_once_worked_on() -> None:
    seen: list[tuple[int, str]] = []
    stage: Stage[int] = Stage(lambda n: seen.append((n, threading.current_thread().name)), "worker")
    try:
        for n in range(50):
            stage.put(n)
        assert [stage.take() for _ in range(50)] == list(range(50))
        assert seen == [(n, "worker") for n in range(50)]
        assert stage.pending == 0
    finally:
        stage.close()


def test_the_first_error_is_raised_to_the_caller_and_later_items_are_not_worked_on() -> None:
    done: list[int] = []

    def work(n: int) -> None:
        if n == 2:
            raise OSError(28, "No space left on device")
        done.append(n)

    stage: Stage[int] = Stage(work, "worker")
    try:
        for n in range(6):
            stage.put(n)
        assert stage.take() == 0
        with pytest.raises(OSError, match="No space left"):
            stage.take_all()
    finally:
        stage.close()
    assert done == [0, 1]


def test_closing_stops_the_thread_even_with_items_queued() -> None:
    gate, done = threading.Event(), list[int]()

    def work(n: int) -> None:
        gate.wait()
        done.append(n)

    stage: Stage[int] = Stage(work, "worker")
    for n in range(5):
        stage.put(n)
    closer = threading.Thread(target=stage.close)
    closer.start()
    gate.set()
    closer.join(5)
    assert not closer.is_alive()
    assert not any(t.name == "worker" for t in threading.enumerate())
    assert done == list(range(len(done)))  # in order; what was still queued may have been dropped


class Buffer:
    """Something a stage works on that can be watched with a weak reference."""


def test_an_item_handed_back_is_no_longer_held_by_the_stage() -> None:
    stage: Stage[Buffer] = Stage(lambda item: None, "worker")
    try:
        item = Buffer()
        watch = weakref.ref(item)
        stage.put(item)
        del item
        taken = stage.take()
        assert taken is watch()
        del taken
        assert watch() is None  # freed at once, not when the next item comes (the ring reuses memory)
    finally:
        stage.close()
