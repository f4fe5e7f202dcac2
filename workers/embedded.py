"""A Celery worker in a background thread of this process, on the embedded (in-memory) transport.

Used by `voicemail run` and `voicemail demo` when no broker is configured, so that one command is a
whole working system. Tasks still go through Celery (same code path as with a real broker); the
database outbox and the sweeper make up for the in-memory transport losing queued tasks on exit.
"""

from __future__ import annotations

import threading

from celery import Celery
from celery.contrib.testing.worker import TestWorkController
from celery.result import _set_task_join_will_block
from celery.worker import state


class EmbeddedWorker:
    def __init__(self, app: Celery) -> None:
        self._app = app
        self._worker: TestWorkController | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._worker = TestWorkController(
            app=self._app, concurrency=1, pool="solo", loglevel="WARNING", hostname="embedded@localhost",
            ready_callback=None, without_heartbeat=True, without_mingle=True, without_gossip=True)
        self._thread = threading.Thread(target=self._worker.start, name="celery-embedded", daemon=True)
        self._thread.start()
        self._worker.ensure_started()
        # Starting a worker marks this process as "inside a task"; the rest of the process is not
        # (celery.contrib.testing.worker does the same after starting its thread).
        _set_task_join_will_block(False)

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        state.should_terminate = 0
        self._thread.join(timeout)
        state.should_terminate = None
        self._thread = None
