"""A blocking face on AmiClient for synchronous callers (Celery workers).

The client runs ``run_forever`` on its own event loop in a daemon thread; calls cross over with
``asyncio.run_coroutine_threadsafe``. The same guarantees hold as for AmiClient: an action is written
at most once and never re-sent after a reconnect; errors arrive as the same exception classes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from voicemail.ami.client import AmiClient, AmiConnectionLost, AmiResponse, AmiTimeout, HeaderInput

T = TypeVar("T")

_GRACE = 2.0  # seconds the calling thread waits beyond the action's own timeout


class BlockingAmi:
    """``BlockingAmi(host, port, username, secret, **AmiClient options)``; ``call``, ``run``, ``close``."""

    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 on_connect: Callable[[AmiClient], Awaitable[None]] | None = None, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._closed = False
        self._fatal: BaseException | None = None
        self._on_connect = on_connect
        created = threading.Event()
        self._client: AmiClient | None = None
        self._failed_to_start: BaseException | None = None
        self._stop = asyncio.Event()  # bound to the loop on first use, in the loop thread

        def thread_main() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._client = AmiClient(host, port, username, secret, **options)
            except BaseException as exc:
                self._failed_to_start = exc
                created.set()
                self._loop.close()
                return
            created.set()
            try:
                self._loop.run_until_complete(self._main(self._client))
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=thread_main, name=f"ami-{host}:{port}", daemon=True)
        self._thread.start()
        created.wait()
        if self._failed_to_start is not None:
            raise self._failed_to_start

    @property
    def client(self) -> AmiClient:
        assert self._client is not None
        return self._client

    async def _main(self, client: AmiClient) -> None:
        try:
            await client.run_forever(self._on_connect)
        except Exception as exc:  # AmiAuthError, or a bug: later calls raise it at once
            self._fatal = exc
            await client.close()
        await self._stop.wait()  # the loop stays up until close() has finished on it

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    def wait_connected(self, timeout: float) -> None:
        """Block until logged in; AmiTimeout after ``timeout`` s, AmiAuthError if the login was refused."""
        self.run(lambda client: asyncio.sleep(0), timeout=timeout)

    def call(self, name: str, headers: HeaderInput = (), timeout: float | None = None) -> AmiResponse:
        """Send one action and wait for the reply (and list events). Waits for a connection first,
        within the same ``timeout`` (default: the client's action_timeout)."""
        budget = self.client.action_timeout if timeout is None else timeout

        async def go(client: AmiClient) -> AmiResponse:
            return await client.action(name, headers, timeout=budget)

        return self.run(go, timeout=budget)

    def run(self, work: Callable[[AmiClient], Awaitable[T]], timeout: float) -> T:
        """Run ``work(client)`` on the client's loop once connected, e.g. an ``actions`` helper:
        ``ami.run(lambda c: voicemail_move(c, ...), timeout=30)``. ``timeout`` covers the wait for a
        connection and the work."""
        if self._fatal is not None:
            raise self._fatal
        if self._closed or not self._thread.is_alive():
            raise AmiConnectionLost("the blocking AMI client is closed")

        async def guarded() -> T:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            await self.client.wait_connected(timeout)
            try:
                async with asyncio.timeout_at(deadline):
                    return await work(self.client)
            except TimeoutError:
                raise AmiTimeout(f"AMI work not done within {timeout} s") from None

        future = asyncio.run_coroutine_threadsafe(guarded(), self._loop)
        try:
            return future.result(timeout + _GRACE)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise AmiTimeout(f"AMI work not done within {timeout} s") from None

    def close(self, timeout: float = 5.0) -> None:
        """Log off, stop the loop thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive() and self._client is not None:
            client = self._client

            async def stop() -> None:
                await client.close()
                self._stop.set()

            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):  # RuntimeError: loop gone
                asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout)
        self._thread.join(timeout)

    def __enter__(self) -> BlockingAmi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
