"""One AMI session: its streams, its parser, and the routing of replies to the actions waiting for them.

``AmiClient`` (client.py) owns the lifecycle (login, watchdog, reconnect, subscribers); a Session
only moves bytes and routes messages:

* a message without ``Event`` is a reply: it completes the action with that ActionID, or fails it
  with AmiActionError on ``Response: Error``; a reply with ``EventList: start`` waits for the list;
* an event with the ActionID of a list action in progress is one of its items, until the one with
  ``EventList: Complete``;
* every other event is handed to ``publish``.

When the session ends, every action still waiting fails with AmiConnectionLost. Nothing is re-sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from voicemail.ami.parser import AmiMessage, AmiParser, AmiProtocolError, encode_message
from voicemail.domain.errors import AmiError, InvalidInput, PermanentError

READ_SIZE = 65536

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]]


class AmiConnectionLost(AmiError):
    """Not connected, or the connection dropped before the reply came (transient)."""


class AmiTimeout(AmiError):
    """No reply within the timeout (transient). The action may or may not have run."""


class AmiAuthError(PermanentError):
    """Asterisk refused the username / secret. Retrying with the same credentials cannot help."""


class AmiActionError(PermanentError):
    """Asterisk answered ``Response: Error`` (or a reply proved the action did not happen)."""

    def __init__(self, text: str, response: AmiMessage | None = None) -> None:
        super().__init__(text)
        self.response = response


@dataclass(frozen=True)
class AmiResponse:
    """The reply to one action; for list actions also its events and the closing ``...Complete`` event."""

    response: AmiMessage
    items: tuple[AmiMessage, ...] = ()
    complete: AmiMessage | None = None

    @property
    def status(self) -> str | None:
        """``Success``, ``Error``, ``Goodbye`` ... as Asterisk wrote it."""
        return self.response.response

    @property
    def message(self) -> str:
        """The ``Message`` header ('' when absent), without the trailing bare LF some actions add."""
        return (self.response.get("Message") or "").strip()

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.response.get(name, default)


@dataclass
class _Pending:
    name: str
    future: asyncio.Future[AmiResponse]
    response: AmiMessage | None = None
    items: list[AmiMessage] = field(default_factory=list)


def _list_marker(msg: AmiMessage) -> str:
    return (msg.get("EventList") or "").lower()


class Session:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, max_message_bytes: int,
                 publish: Callable[[AmiMessage], None], log: logging.Logger) -> None:
        loop = asyncio.get_running_loop()
        self.reader, self.writer = reader, writer
        self.parser = AmiParser(expect_banner=True, max_message_bytes=max_message_bytes)
        self.publish = publish
        self.log = log
        self.pending: dict[str, _Pending] = {}
        self.abandoned: OrderedDict[str, None] = OrderedDict()  # ActionIDs we stopped waiting for
        self.write_lock = asyncio.Lock()  # one writer: frames never interleave
        self.banner: asyncio.Future[str] = loop.create_future()
        self.done = asyncio.Event()
        self.lost: str | None = None  # why it ended; None while alive
        self.ready = False  # logged in
        self.tasks: list[asyncio.Task[None]] = []
        self.started = loop.time()

    # -- sending -----------------------------------------------------------------------------------

    async def request(self, name: str, headers: HeaderInput, action_id: str, timeout: float) -> AmiResponse:
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        for key, _ in pairs:
            if key.lower() in ("action", "actionid"):
                raise InvalidInput(f"{key} is set by the client, not by the caller")
        frame = encode_message([("Action", name), ("ActionID", action_id), *pairs])  # may raise UnsafeValue
        pending = _Pending(name, asyncio.get_running_loop().create_future())
        self.pending[action_id] = pending
        try:
            async with asyncio.timeout(timeout):
                async with self.write_lock:
                    if self.lost is not None:
                        raise AmiConnectionLost(f"AMI connection lost: {self.lost}")
                    self.writer.write(frame)
                    try:
                        await self.writer.drain()
                    except (OSError, RuntimeError) as exc:
                        self.end(f"write failed: {_why(exc)}")
                return await pending.future
        except TimeoutError:
            self.abandoned[action_id] = None
            while len(self.abandoned) > 256:
                self.abandoned.popitem(last=False)
            raise AmiTimeout(f"no reply to {name} ({action_id}) within {timeout} s") from None
        finally:
            self.pending.pop(action_id, None)

    # -- receiving ---------------------------------------------------------------------------------

    async def read_loop(self) -> None:
        reason = "closed by Asterisk"
        try:
            while data := await self.reader.read(READ_SIZE):
                fault: AmiProtocolError | None = None
                try:
                    messages = self.parser.feed(data)
                except AmiProtocolError as exc:
                    messages, fault = exc.messages, exc
                if self.parser.banner is not None and not self.banner.done():
                    self.banner.set_result(self.parser.banner)
                for msg in messages:
                    self.route(msg)
                if fault is not None:
                    reason = f"protocol error: {fault}"
                    break
        except asyncio.CancelledError:
            reason = self.lost or "reader cancelled"
            raise
        except (OSError, RuntimeError) as exc:
            reason = f"read failed: {_why(exc)}"
        finally:
            self.end(reason)

    def route(self, msg: AmiMessage) -> None:
        action_id = msg.action_id
        pending = self.pending.get(action_id) if action_id is not None else None
        if msg.event is None:
            if pending is None or pending.response is not None:
                if action_id not in self.abandoned:
                    self.log.debug("AMI reply for no waiting action (ActionID %s) ignored", action_id)
                return
            self._on_reply(action_id or "", pending, msg)
        elif pending is not None and (pending.response is None or _list_marker(pending.response) == "start"):
            pending.items.append(msg)
            if pending.response is not None and _list_marker(msg) == "complete":
                items = pending.items
                self._finish(action_id or "", pending, AmiResponse(pending.response, tuple(items[:-1]), items[-1]))
        elif action_id is None or action_id not in self.abandoned:  # not a late item of a timed-out list
            self.publish(msg)

    def _on_reply(self, action_id: str, pending: _Pending, msg: AmiMessage) -> None:
        pending.response = msg
        early = pending.items  # events with this ActionID that came before the reply (not seen on Asterisk)
        if (msg.response or "").lower() == "error":
            self.pending.pop(action_id, None)
            if not pending.future.done():
                text = (msg.get("Message") or "").strip()
                pending.future.set_exception(AmiActionError(f"{pending.name} failed: {text}", msg))
        elif _list_marker(msg) == "start":
            done = next((n for n, ev in enumerate(early) if _list_marker(ev) == "complete"), None)
            if done is None:
                return  # the items follow until EventList: Complete
            self._finish(action_id, pending, AmiResponse(msg, tuple(early[:done]), early[done]))
            early = early[done + 1:]
        else:
            self._finish(action_id, pending, AmiResponse(msg))
        pending.items = []
        for event in early:  # not items of a list: ordinary events
            self.publish(event)

    def _finish(self, action_id: str, pending: _Pending, result: AmiResponse) -> None:
        self.pending.pop(action_id, None)
        if not pending.future.done():
            pending.future.set_result(result)

    # -- ending ------------------------------------------------------------------------------------

    def end(self, reason: str, *, graceful: bool = False) -> None:
        """End the session (idempotent): fail every waiting action, stop the tasks, close the socket
        (``graceful``: after sending what is buffered, e.g. a Logoff; else at once)."""
        if self.lost is not None:
            return
        self.lost = reason
        for action_id, pending in list(self.pending.items()):
            if not pending.future.done():
                pending.future.set_exception(AmiConnectionLost(
                    f"AMI connection lost before the reply to {pending.name} ({action_id}); not re-sent: {reason}"))
        self.pending.clear()
        if not self.banner.done():
            self.banner.set_exception(AmiConnectionLost(f"AMI connection lost: {reason}"))
            self.banner.exception()  # mark retrieved: nobody may be waiting any more
        with contextlib.suppress(Exception):
            if graceful:
                self.writer.transport.close()
            else:
                self.writer.transport.abort()
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        self.done.set()


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
