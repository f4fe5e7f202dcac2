"""FollowUpWorker: what the telephone menu's keys leave for Asterisk, done in background threads.

* **Folder moves** recorded as pending (``voicemail.services.folder_moves``): at once when one is
  recorded (``wake``), and every ``interval`` seconds for those that are due (a retry after a failure,
  or left by a crash or an outage: the first sweep runs at ``start``).
* **Shreds to finish**: a delete on the phone destroys the message's key before the caller hears
  "deleted" (``CryptoShredder.shred(finish=False)``); the blobs, Asterisk's envelope and the tombstone
  follow here (``finish_shred``), and every ``shred_interval`` seconds any message left half-shredded (by
  a crash, an AMI outage, or an interrupted retention run) is finished.

Never two jobs for one message at once; a job asked for while it runs is run once more after it.
``close`` stops the worker (a job in flight finishes; what is left stays recorded for the next start).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, Protocol

from voicemail.services.folder_moves import FolderMoves

log = logging.getLogger(__name__)

Kind = Literal["move", "shred"]
Job = tuple[Kind, str]  # (kind, message id)
SWEEP_REASON = "finishing a shred that was interrupted"


class ShredFinisher(Protocol):
    def shred(self, message_id: str, *, actor: str, source: str, reason: str, finish: bool = True) -> str: ...


class Unfinished(Protocol):
    def unfinished_shreds(self, limit: int = 200) -> list[str]: ...


class FollowUpWorker:
    def __init__(self, moves: FolderMoves, shredder: ShredFinisher | None = None,
                 unfinished: Unfinished | None = None, *, interval: float = 5.0, shred_interval: float = 15.0,
                 threads: int = 4, actor: str = "voicemail", source: str = "follow-up") -> None:
        self.moves = moves
        self._shredder = shredder
        self._unfinished = unfinished
        self._interval = interval
        self._shred_interval = shred_interval
        self._threads = threads
        self._actor, self._source = actor, source  # who finishes a shred found by a sweep
        self._cond = threading.Condition()
        self._queued: list[Job] = []
        self._who: dict[str, tuple[str, str, str]] = {}  # shred asked for: (actor, source, reason)
        self._busy: set[Job] = set()
        self._again: set[Job] = set()
        self._warned: set[str] = set()  # shreds whose failure was logged (once each)
        self._sweep_due = True
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    # --- asking ---------------------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._thread is not None or self._stopping:
                return
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="follow-up")
            self._thread = threading.Thread(target=self._loop, name="follow-up", daemon=True)
            self._thread.start()

    def wake(self, message_id: str) -> None:
        """Carry out the pending folder move of ``message_id`` as soon as possible."""
        self._ask(("move", message_id))

    def finish_shred(self, message_id: str, actor: str, source: str, reason: str) -> None:
        """Finish shredding ``message_id`` (its key is destroyed) as soon as possible, audited as ``actor``."""
        with self._cond:
            self._who[message_id] = (actor, source, reason)
        self._ask(("shred", message_id))

    def sweep(self) -> None:
        """Look for due moves now (e.g. after the AMI connection came back)."""
        with self._cond:
            self._sweep_due = True
            self._cond.notify()

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued or running, no move is pending and no shred is unfinished (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                idle = not self._queued and not self._busy
            if idle and not self.moves.pending() and not (self._unfinished and self._unfinished.unfinished_shreds(1)):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread, pool = self._thread, self._pool
        if thread is not None:
            thread.join(10)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    # --- running --------------------------------------------------------------------------------------
    def _ask(self, job: Job) -> None:
        self.start()
        with self._cond:
            if job not in self._queued:
                self._queued.append(job)
            self._cond.notify()

    def _loop(self) -> None:
        now = time.monotonic()
        next_sweep, next_shreds = now, now
        while True:
            with self._cond:
                while not self._stopping and not self._queued and not self._sweep_due \
                        and time.monotonic() < min(next_sweep, next_shreds):
                    self._cond.wait(max(0.0, min(next_sweep, next_shreds) - time.monotonic()))
                if self._stopping:
                    return
                batch, self._queued = self._queued, []
                now = time.monotonic()
                sweep, self._sweep_due = self._sweep_due or now >= next_sweep, False
                shreds = now >= next_shreds
            if sweep:
                next_sweep = now + self._interval
                batch += self._found("move", self.moves.due, batch)
            if shreds:
                next_shreds = now + self._shred_interval
                if self._shredder is not None and self._unfinished is not None:
                    batch += self._found("shred", self._unfinished.unfinished_shreds, batch)
            for job in batch:
                self._submit(job)

    @staticmethod
    def _found(kind: Kind, look: Callable[[int], list[str]], batch: list[Job]) -> list[Job]:
        try:
            return [(kind, m) for m in look(200) if (kind, m) not in batch]
        except Exception as exc:  # the database is down: the next sweep tries again
            log.warning("looking for unfinished %ss failed (%s)", kind, type(exc).__name__)
            return []

    def _submit(self, job: Job) -> None:
        with self._cond:
            if job in self._busy:
                self._again.add(job)
                return
            if self._pool is None or self._stopping:
                return
            self._busy.add(job)
            pool = self._pool
        try:
            pool.submit(self._run, job)
        except RuntimeError:  # shut down meanwhile
            with self._cond:
                self._busy.discard(job)

    def _run(self, job: Job) -> None:
        kind, message_id = job
        try:
            if kind == "move":
                self.moves.carry_out(message_id)
            else:
                self._shred(message_id)
        except Exception as exc:  # the database is down: what is recorded stays for the next sweep
            log.warning("message %s: %s failed (%s)", message_id, kind, type(exc).__name__)
        finally:
            with self._cond:
                self._busy.discard(job)
                if job in self._again:
                    self._again.discard(job)
                    self._queued.append(job)
                    self._cond.notify()

    def _shred(self, message_id: str) -> None:
        assert self._shredder is not None
        with self._cond:
            actor, source, reason = self._who.get(message_id, (self._actor, self._source, SWEEP_REASON))
        try:
            self._shredder.shred(message_id, actor=actor, source=source, reason=reason)
        except Exception as exc:  # e.g. Asterisk unreachable: the row stays "shredding", the next sweep ends it
            if message_id not in self._warned:
                self._warned.add(message_id)
                log.warning("message %s: its key is destroyed but the rest of its shredding is not done yet (%s); "
                            "retried every %g s", message_id, type(exc).__name__, self._shred_interval)
            return
        with self._cond:
            self._who.pop(message_id, None)
            self._warned.discard(message_id)
