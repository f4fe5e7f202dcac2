"""StandinThread: an AsteriskStandin on its own event loop in a background thread (blocking API)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from voicemail.standin.config import StandinConfig
from voicemail.standin.server import AsteriskStandin

T = TypeVar("T")
START_TIMEOUT = 10.0
LEAVE_TIMEOUT = 900.0  # a lab-timing message takes ~11 s; recording is capped at 600 s


class StandinThread:
    def __init__(self, config: StandinConfig) -> None:
        self.config = config.validated()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._standin: AsteriskStandin | None = None
        self._stopped: asyncio.Event | None = None

    def start(self) -> int:
        """Start the thread and the server; returns the bound AMI port."""
        if self._thread is not None:
            raise RuntimeError("StandinThread already started")
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="asterisk-standin", daemon=True)
        self._thread.start()
        return ready.result(timeout=START_TIMEOUT)

    def _run(self, ready: concurrent.futures.Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main(ready))
        finally:
            loop.close()

    async def _main(self, ready: concurrent.futures.Future[int]) -> None:
        self._stopped = asyncio.Event()
        try:
            self._standin = AsteriskStandin(self.config)
            await self._standin.start()
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(self._standin.port)
        await self._stopped.wait()
        await self._standin.stop()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._loop is None or self._standin is None:
            coro.close()
            raise RuntimeError("StandinThread is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def standin(self) -> AsteriskStandin:
        if self._standin is None:
            raise RuntimeError("StandinThread is not running")
        return self._standin

    @property
    def port(self) -> int:
        return self.standin.port

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        stopped = self._stopped
        if stopped is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(stopped.set)
        self._thread.join(timeout=15)
        self._thread = None

    def leave_message(self, mailbox: str, callerid: str | None = None, **kw: Any) -> str | None:
        """Blocking AsteriskStandin.leave_message."""
        return self._call(self.standin.leave_message(mailbox, callerid, **kw), timeout=LEAVE_TIMEOUT)

    def call_in(self, caller: str, **kw: Any) -> str:
        """Blocking AsteriskStandin.call_in: returns the AGI channel's name."""
        return self._call(self.standin.call_in(caller, **kw), timeout=START_TIMEOUT)

    def drop_connections(self) -> None:
        self._call(self.standin.drop_connections())

    def pause_replies(self, paused: bool) -> None:
        """Blocking AsteriskStandin.pause_replies."""

        async def apply() -> None:
            self.standin.pause_replies(paused)
        self._call(apply())

    def activity(self) -> list[tuple[float, str, str]]:
        """Every AMI session's actions so far: (time.monotonic(), session id, lower-case action or "closed")."""

        async def copy() -> list[tuple[float, str, str]]:
            return list(self.standin.activity)
        return self._call(copy())

    def session_count(self) -> int:
        """Open, logged-in AMI sessions."""

        async def count() -> int:
            return self.standin.session_count()
        return self._call(count())
