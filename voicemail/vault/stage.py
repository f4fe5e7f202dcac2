"""One step of a pipeline on its own thread: items go in, are worked on in order, and come back out.

The seal and the verification hand their SHA-256 (and the seal its writes) to such a stage: ``hashlib``
and file writes release the GIL, so the stage's work runs beside the calling thread's. A stage hands
each item back once it is done with it (the caller may then reuse its buffer); if the work fails, the
error comes back in place of that item and the stage takes no more work. ``close`` stops the thread and
waits for it, so no buffer is touched after it returns.

The queues are ``queue.SimpleQueue`` (C, no Python locks): per item the thread takes the GIL about
twice, which matters while the calling thread holds it to encrypt.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Stage(Generic[T]):
    """``put`` items, ``take`` them back in the same order once ``work`` is done with each."""

    def __init__(self, work: Callable[[T], object], name: str) -> None:
        self._inbox: queue.SimpleQueue[T | None] = queue.SimpleQueue()
        self._outbox: queue.SimpleQueue[tuple[T | None, BaseException | None]] = queue.SimpleQueue()
        self._abandon = False
        self.pending = 0  # items put and not yet taken back
        self._thread = threading.Thread(target=self._serve, args=(work,), name=name, daemon=True)
        self._thread.start()

    def put(self, item: T) -> None:
        self.pending += 1
        self._inbox.put(item)

    def done(self) -> bool:
        """Whether ``take`` would return at once."""
        return not self._outbox.empty()

    def take(self) -> T:
        """The oldest item put and not yet taken, once worked on (waits); raises the work's error."""
        item, error = self._outbox.get()
        self.pending -= 1
        if error is not None:
            raise error
        assert item is not None
        return item

    def take_all(self) -> None:
        """Wait until every item put is done; raise the first error."""
        while self.pending:
            self.take()

    def close(self) -> None:
        """Stop the thread and wait for it. Items still queued are dropped unworked (after an error
        elsewhere nobody wants them): call ``take_all`` first to have them done."""
        self._abandon = True
        self._inbox.put(None)
        self._thread.join()

    def _serve(self, work: Callable[[T], object]) -> None:
        while True:
            # the item lives in a one-element list and is popped as it is handed back: once the caller
            # has it, this thread holds no reference to it (a buffer the caller drops is freed at once)
            holder = [self._inbox.get()]
            if holder[0] is None:
                return
            if self._abandon:
                continue
            try:
                work(holder[0])
            except BaseException as exc:  # handed to the caller, raised by its take()
                self._abandon = True
                self._outbox.put((None, exc))
                continue
            self._outbox.put((holder.pop(), None))
