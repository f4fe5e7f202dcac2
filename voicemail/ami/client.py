"""A thin asyncio AMI client over the pure parser (``voicemail.ami.parser``).

One TCP (or TLS) session at a time. Actions get a unique ActionID and a future; list actions
(``EventList: start``) collect their events until ``EventList: Complete``. Every other event goes to the
subscribers. A ping watchdog drops a half-open connection. ``run_forever`` reconnects with exponential
backoff and full jitter, and calls ``on_connect`` after every (re)connect. The per-connection
machinery (sending, routing replies and list items, failing what is in flight) is ``session.py``.

Guarantees that matter for custody:

* an action is written at most once. When the connection drops, every action still waiting for its
  reply fails with ``AmiConnectionLost``; nothing is re-sent after a reconnect (``Originate``,
  ``VoicemailMove`` are not idempotent). The caller decides.
* a value holding CR, LF or NUL is refused (``UnsafeValue``) before any byte is written.
* a subscriber that raises is logged and the reader goes on.
* logs name actions, ActionIDs and event names only: never a secret, a header value or caller data.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import random
import secrets
import ssl as _ssl
from collections.abc import Awaitable, Callable

from voicemail.ami.parser import MAX_MESSAGE_BYTES, AmiMessage, encode_message
from voicemail.ami.session import (
    AmiActionError,
    AmiAuthError,
    AmiConnectionLost,
    AmiResponse,
    AmiTimeout,
    HeaderInput,
    Session,
)
from voicemail.domain.errors import AmiError, InvalidInput

__all__ = [
    "AmiActionError",
    "AmiAuthError",
    "AmiClient",
    "AmiConnectionLost",
    "AmiResponse",
    "AmiTimeout",
    "EventStream",
    "HeaderInput",
]

EventCallback = Callable[[AmiMessage], object]  # may return an awaitable
OnConnect = Callable[["AmiClient"], Awaitable[None]]


class EventStream:
    """Async iterator over events (``async with client.events() as stream: async for ev in stream``).

    Registered when created, so no event is missed between creation and the first ``__anext__``.
    When the consumer falls ``maxsize`` events behind, new events are dropped (and logged once per
    burst): the listener's reconciliation repairs a missed event; a stalled reader must not grow memory.
    """

    def __init__(self, client: AmiClient, maxsize: int) -> None:
        self._client = client
        self._queue: asyncio.Queue[AmiMessage] = asyncio.Queue(maxsize)
        self._dropping = False
        client._streams.append(self)

    def _offer(self, msg: AmiMessage) -> None:
        try:
            self._queue.put_nowait(msg)
            self._dropping = False
        except asyncio.QueueFull:
            if not self._dropping:
                self._client._log.warning("AMI event stream is full; dropping events until it drains")
                self._dropping = True

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self._client._streams.remove(self)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> AmiMessage:
        return await self._queue.get()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class AmiClient:
    """The AMI client. ``connect()`` / ``close()`` for one session, ``run_forever(on_connect)`` to stay
    connected; ``action(name, headers)`` -> AmiResponse; ``subscribe(callback)`` or ``events()`` for
    events. Create and use it on one event loop."""

    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 ssl: _ssl.SSLContext | None = None, connect_timeout: float = 5.0,
                 action_timeout: float = 10.0, ping_interval: float = 20.0, ping_timeout: float = 5.0,
                 reconnect_min: float = 0.5, reconnect_max: float = 30.0,
                 logger: logging.Logger | None = None,
                 max_message_bytes: int = MAX_MESSAGE_BYTES,
                 gate: Callable[[], bool] | None = None) -> None:
        if reconnect_min <= 0 or reconnect_max < reconnect_min:
            raise InvalidInput("reconnect_min must be > 0 and <= reconnect_max")
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self._ssl = ssl
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reconnect_min, self.reconnect_max = reconnect_min, reconnect_max
        self._log = logger or logging.getLogger(__name__)
        self._max_bytes = max_message_bytes
        self._conn: Session | None = None
        self._closing = False
        self._fatal: BaseException | None = None
        self._changed = asyncio.Event()  # pulsed (set, then replaced) on every state change
        self._callbacks: list[EventCallback] = []
        self._streams: list[EventStream] = []
        self._callback_tasks: set[asyncio.Future[object]] = set()
        self._id_prefix = f"vm-{secrets.token_hex(4)}-"
        self._id_next = 0
        self.banner: str | None = None
        self.connects = 0  # successful logins by run_forever (the first one and every reconnect)
        # while gate() is False this client sends no action (not even Ping) and passes on no event (the listener
        # lease: a holder that lost it, e.g. resumed after a pause, must not act before it steps down)
        self._gate = gate

    # -- state -------------------------------------------------------------------------------------

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        conn = self._conn
        return conn is not None and conn.ready and conn.lost is None

    def _pulse(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Return once logged in. Raises AmiTimeout, or the fatal error that stopped ``run_forever``."""
        try:
            async with asyncio.timeout(timeout):
                while not self.connected:
                    if self._fatal is not None:
                        raise self._fatal
                    if self._closing:
                        raise AmiConnectionLost("the AMI client is closed")
                    await self._changed.wait()
        except TimeoutError:
            raise AmiTimeout(f"not connected to AMI at {self.where} within {timeout} s") from None

    # -- connecting --------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection, read the banner, log in with ``Events: on``. No retry here."""
        if self._closing:
            raise AmiConnectionLost("the AMI client is closed")
        if self.connected:
            return
        if not self._open():
            raise AmiConnectionLost("this process does not hold the listener lease")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self._ssl),
                self.connect_timeout)
        except (OSError, TimeoutError) as exc:
            raise AmiConnectionLost(f"cannot connect to AMI at {self.where}: {_why(exc)}") from None
        conn = Session(reader, writer, max_message_bytes=self._max_bytes, publish=self._publish, log=self._log)
        conn.tasks.append(asyncio.create_task(conn.read_loop(), name="ami-reader"))
        try:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    banner = await asyncio.shield(conn.banner)
            except TimeoutError:
                raise AmiTimeout(f"no AMI banner from {self.where} within {self.connect_timeout} s") from None
            if not banner.startswith("Asterisk Call Manager/"):
                raise AmiConnectionLost(f"{self.where} is not an AMI server (unexpected banner)")
            try:
                await conn.request("Login", [("Username", self._username), ("Secret", self._secret),
                                             ("Events", "on")], self._new_id(), self.connect_timeout)
            except AmiActionError as exc:
                text = (exc.response.get("Message") or "") if exc.response is not None else ""
                raise AmiAuthError(f"AMI login to {self.where} refused: {text.strip() or 'no reason given'}") \
                    from None
        except BaseException:
            conn.end("login did not complete")
            raise
        if self._closing:  # close() ran while we were logging in
            conn.end("closed by this client", graceful=True)
            raise AmiConnectionLost("the AMI client is closed")
        conn.ready = True
        self.banner = banner
        self._conn = conn
        if self.ping_interval > 0:
            conn.tasks.append(asyncio.create_task(self._watchdog(conn), name="ami-ping"))
        self._pulse()
        self._log.debug("AMI logged in at %s (%s)", self.where, banner)

    async def close(self) -> None:
        """Log off (best effort, no wait) and close. ``run_forever`` returns; pending actions fail."""
        self._closing = True
        conn = self._conn
        if conn is not None and conn.lost is None:
            with contextlib.suppress(Exception):
                conn.writer.write(encode_message([("Action", "Logoff"), ("ActionID", self._new_id())]))
            conn.end("closed by this client", graceful=True)
        self._pulse()
        if conn is not None:
            others = [t for t in conn.tasks if t is not asyncio.current_task()]
            if others:
                await asyncio.wait(others, timeout=self.connect_timeout)

    # -- actions -----------------------------------------------------------------------------------

    async def action(self, name: str, headers: HeaderInput = (), *, timeout: float | None = None) -> AmiResponse:
        """Send one action and wait for its reply (and, for list actions, all its events).

        Raises AmiActionError on ``Response: Error``, AmiTimeout, AmiConnectionLost, UnsafeValue.
        """
        conn = self._conn
        if conn is None or not conn.ready or conn.lost is not None:
            raise AmiConnectionLost(f"not connected to AMI at {self.where}")
        if not self._open():
            raise AmiConnectionLost("this process no longer holds the listener lease")
        return await conn.request(name, headers, self._new_id(), self.action_timeout if timeout is None else timeout)

    def _new_id(self) -> str:
        self._id_next += 1
        return f"{self._id_prefix}{self._id_next}"

    # -- events ------------------------------------------------------------------------------------

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes.

        The callback runs in the reader: keep it short. A coroutine function is run as a task. An
        exception is logged and the reader goes on.
        """
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    def events(self, maxsize: int = 10000) -> EventStream:
        return EventStream(self, maxsize)

    def _open(self) -> bool:
        return self._gate is None or self._gate()

    def _publish(self, msg: AmiMessage) -> None:
        if not self._open():
            return
        for callback in list(self._callbacks):
            try:
                result = callback(msg)
            except Exception:
                self._log.exception("AMI event callback %s failed on a %s event", _name(callback), msg.event)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._callback_tasks.add(task)
                task.add_done_callback(functools.partial(self._callback_done, callback=callback, event=msg.event))
        for stream in list(self._streams):
            stream._offer(msg)

    def _callback_done(self, task: asyncio.Future[object], *, callback: EventCallback, event: str | None) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("AMI event callback %s failed on a %s event", _name(callback), event,
                            exc_info=task.exception())

    async def _watchdog(self, conn: Session) -> None:
        while conn.lost is None:
            await asyncio.sleep(self.ping_interval)
            if not self._open():
                continue
            try:
                await conn.request("Ping", (), self._new_id(), self.ping_timeout)
            except AmiTimeout:
                self._log.warning("AMI at %s did not answer Ping within %.1f s; dropping the connection "
                                  "as half-open", self.where, self.ping_timeout)
                conn.end("no reply to Ping (half-open)")
                return
            except AmiConnectionLost:
                return
            except AmiActionError:
                pass  # an error reply is still a reply: the peer is alive

    # -- the reconnect loop ------------------------------------------------------------------------

    async def run_forever(self, on_connect: OnConnect | None = None) -> None:
        """Stay connected until ``close()``; call ``on_connect(self)`` after every (re)connect.

        An outage is logged once when it starts (warning) and once when it ends (info, with its
        length); single failed attempts only at debug level. AmiAuthError ends the loop (raised):
        retrying a refused secret cannot help and would hammer Asterisk's security log.
        """
        loop = asyncio.get_running_loop()
        outage_since: float | None = None
        attempts = 0
        failures = 0
        try:
            while not self._closing:
                try:
                    await self.connect()
                except AmiAuthError as exc:
                    self._fatal = exc
                    self._log.error("AMI login to %s refused; not retrying (fix the credentials)", self.where)
                    self._pulse()
                    raise
                except (AmiError, OSError) as exc:
                    attempts += 1
                    if outage_since is None:
                        outage_since = loop.time()
                        self._log.warning("AMI at %s unreachable (%s); retrying with backoff", self.where, exc)
                    else:
                        self._log.debug("AMI reconnect attempt %d failed: %s", attempts, exc)
                    failures += 1
                    await self._backoff(failures)
                    continue
                conn = self._conn
                if conn is None:  # gone already: back off as after a failure
                    failures += 1
                    await self._backoff(failures)
                    continue
                if outage_since is not None:
                    self._log.info("AMI connection to %s restored after %.1f s (%d failed attempt(s))",
                                   self.where, loop.time() - outage_since, attempts)
                else:
                    self._log.info("AMI connected to %s", self.where)
                outage_since, attempts = None, 0
                self.connects += 1
                if on_connect is not None:
                    try:
                        await on_connect(self)
                    except Exception:
                        self._log.exception("AMI on_connect hook failed")
                await conn.done.wait()
                if self._closing:
                    break
                outage_since = loop.time()
                self._log.warning("AMI connection to %s lost (%s); reconnecting", self.where, conn.lost)
                # A connection that died young does not reset the backoff (no hot loop on a flapping peer).
                failures = failures + 1 if loop.time() - conn.started < self.reconnect_max else 0
                await self._backoff(failures)
        finally:
            if self._conn is not None:  # cancelled (or failed): nobody manages this connection any more
                self._conn.end("run_forever ended")

    async def _backoff(self, failures: int) -> None:
        """Sleep a random time in [reconnect_min, min(reconnect_max, reconnect_min * 2**failures)]."""
        cap = min(self.reconnect_max, self.reconnect_min * 2 ** min(failures, 30))
        delay = random.uniform(self.reconnect_min, cap)
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                while not self._closing:
                    await changed.wait()
                    changed = self._changed



def _name(callback: object) -> str:
    return getattr(callback, "__qualname__", None) or type(callback).__name__



def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
