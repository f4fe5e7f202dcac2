"""MenuDriver: runs one telephone menu per Async AGI channel over the service's AMI connection.

* ``AsyncAGIStart`` whose first AGI argument is ``voicemail-menu`` starts a session keyed by the
  channel (``AGI(agi:async,voicemail-menu[,MAILBOX@CONTEXT])``); one whose first argument names one of
  the other ``apps`` (e.g. ``extension-mobility``) starts that app's flow the same way; other Async AGI
  users are left alone.
* Each AGI command is sent as ``Action: AGI`` with a fresh ``CommandID``; its result is the
  ``AsyncAGIExec`` with the same Channel and CommandId (the only event that carries the client's id,
  captures q9/q9c). One AMI connection carries any number of calls.
* ``AsyncAGIEnd`` or ``Hangup`` of the channel, an ``Action: AGI`` refused (``Channel ... does not
  exist``), or the AMI connection going away end the session; a command queued behind one that a
  hangup interrupted is dropped by Asterisk without a reply (q9b), so nothing waits for it.
* The menu's requests run in the driver's own thread pool (database, vault; ``workers`` threads, so
  that many calls waiting on the database at once do not queue behind each other, and none of it runs
  on the event loop; what a key asks of Asterisk, a folder move or the rest of a shred, is recorded and
  done in the background by ``voicemail.services.follow_up``). The call's ``CallPort`` is closed whatever
  happens, in a separate small pool (closing records the heard messages' moves to Old, which must not
  hold up the keys of the calls still in progress), so no staging file or unkept recording outlives the
  call.
  Nothing raised by a call escapes the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

from voicemail.ami.parser import AmiMessage
from voicemail.domain.errors import AmiError, PermanentError
from voicemail.phone import agi
from voicemail.phone.agi import AgiReply, parse_reply
from voicemail.phone.dialog import CallEnded, Flow, MenuSettings
from voicemail.phone.effects import Command
from voicemail.phone.menu import identify, menu

log = logging.getLogger(__name__)

APP_NAME = "voicemail-menu"
WORKERS = 8  # threads answering the calls' requests (most of their time is spent waiting on I/O)
CLOSERS = 4  # threads ending calls (staging files removed, heard messages' moves to Old recorded)


class AmiPeer(Protocol):
    """What the driver needs of ``voicemail.ami.client.AmiClient``."""

    @property
    def connected(self) -> bool: ...

    async def action(self, name: str, headers: Any = (), *, timeout: float | None = None) -> Any: ...

    def subscribe(self, callback: Callable[[AmiMessage], object]) -> Callable[[], None]: ...


class Port(Protocol):
    def answer(self, request: Any) -> object: ...

    def close(self) -> None: ...


# (AGI environment, call source) -> the call's port and flow, for an app other than the menu
AppFactory = Callable[[dict[str, str], str], tuple[Port, Flow[None]]]


class _Gone(Exception):
    """The channel or the AMI connection is gone."""


def parse_env(encoded: str) -> dict[str, str]:
    """The ``Env`` of AsyncAGIStart: URL-encoded ``agi_x: value`` lines, ending with an empty one."""
    env: dict[str, str] = {}
    for line in unquote(encoded).split("\n"):
        key, sep, value = line.partition(": ")
        if sep and key.startswith("agi_"):
            env[key] = value
    return env


@dataclass
class CallSession:
    channel: str
    uniqueid: str
    port: Port
    flow: Flow[None]
    pending: dict[str, asyncio.Future[AgiReply]] = field(default_factory=dict)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class MenuDriver:
    def __init__(self, client: AmiPeer, make_port: Callable[[str], Port], settings: MenuSettings,
                 trusted_contexts: frozenset[str], *, command_timeout: float = 900.0,
                 on_sent: Callable[[str, str], None] | None = None,
                 on_result: Callable[[str, AgiReply], None] | None = None,
                 apps: Mapping[str, AppFactory] | None = None, workers: int = WORKERS,
                 closers: int = CLOSERS) -> None:
        self._client = client
        self._workers = workers
        self._closers = closers
        self._pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None
        self._apps = dict(apps or {})
        self._make_port = make_port
        self._settings = settings
        self._trusted = trusted_contexts
        self._command_timeout = command_timeout
        self._on_sent = on_sent  # (channel, command) as each Action: AGI is about to be written (tests, bench)
        self._on_result = on_result  # (channel, reply) as each AsyncAGIExec of ours arrives (bench)
        self._sessions: dict[str, CallSession] = {}
        self._ids = itertools.count(1)
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self._client.subscribe(self._on_event)

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = [s.task for s in self._sessions.values() if s.task is not None]
        for session in list(self._sessions.values()):
            session.ended.set()
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        pools, self._pools = self._pools, None
        for pool in pools or ():
            pool.shutdown(wait=False)

    def _pool(self, index: int) -> ThreadPoolExecutor:
        """0: the requests' pool, 1: the pool that ends calls (created on first use)."""
        if self._pools is None:
            self._pools = (ThreadPoolExecutor(self._workers, thread_name_prefix="phone-menu"),
                           ThreadPoolExecutor(self._closers, thread_name_prefix="phone-menu-end"))
        return self._pools[index]

    async def wait_idle(self, timeout: float) -> None:
        """Return once no call is in progress (tests)."""
        async with asyncio.timeout(timeout):
            while self._sessions:
                await asyncio.sleep(0.01)

    # --- events ---------------------------------------------------------------------------------------
    def _on_event(self, msg: AmiMessage) -> None:
        name = msg.event
        channel = msg.get("Channel") or ""
        if name == "AsyncAGIStart":
            self._begin(channel, msg)
        elif name == "AsyncAGIExec":
            session = self._sessions.get(channel)
            future = session.pending.pop(msg.get("CommandId") or "", None) if session is not None else None
            if future is not None and not future.done():
                reply = parse_reply(unquote(msg.get("Result") or ""))
                if self._on_result is not None:
                    self._on_result(channel, reply)
                future.set_result(reply)
        elif name in ("AsyncAGIEnd", "Hangup"):
            session = self._sessions.get(channel)
            if session is not None:
                session.ended.set()

    def _begin(self, channel: str, msg: AmiMessage) -> None:
        env = parse_env(msg.get("Env") or "")
        app = env.get("agi_arg_1") or ""
        if (app != APP_NAME and app not in self._apps) or not channel:
            return
        old = self._sessions.get(channel)
        if old is not None:  # the same channel entered the menu again: the old session is over
            old.ended.set()
        uniqueid = msg.get("Uniqueid") or env.get("agi_uniqueid", "")
        try:
            if app == APP_NAME:
                start = identify(env.get("agi_arg_2"), env.get("agi_context", ""), self._trusted)
                port, flow = self._make_port(f"phone {uniqueid}"), menu(start, self._settings)
            else:
                port, flow = self._apps[app](env, f"phone {uniqueid}")
        except Exception:
            log.exception("phone menu: cannot start a session for call %s", uniqueid)
            return
        session = CallSession(channel, uniqueid, port, flow)
        self._sessions[channel] = session
        session.task = asyncio.get_running_loop().create_task(self._run(session), name=f"phone-menu-{uniqueid}")

    # --- one call -------------------------------------------------------------------------------------
    async def _run(self, session: CallSession) -> None:
        log.info("phone menu: call %s started", session.uniqueid)
        flow = session.flow
        try:
            out = next(flow)
            while True:
                if isinstance(out, Command):
                    value: object = await self._command(session, out.text)
                else:
                    try:
                        loop = asyncio.get_running_loop()
                        value = await loop.run_in_executor(self._pool(0), session.port.answer, out)
                    except Exception:
                        log.exception("phone menu: call %s: %s failed", session.uniqueid, type(out).__name__)
                        await self._apologise(session)
                        return
                out = flow.send(value)
        except StopIteration:
            pass
        except (_Gone, CallEnded):
            pass
        except Exception:  # a bug must not take the other calls (or the service) with it
            log.exception("phone menu: call %s failed", session.uniqueid)
        finally:
            flow.close()
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(self._pool(1), session.port.close)
            for future in session.pending.values():
                future.cancel()
            if self._sessions.get(session.channel) is session:
                del self._sessions[session.channel]
            log.info("phone menu: call %s ended", session.uniqueid)

    async def _apologise(self, session: CallSession) -> None:
        with contextlib.suppress(_Gone, CallEnded):
            for text in (agi.stream_file("vm-sorry", ""), agi.stream_file("vm-goodbye", ""), agi.hangup()):
                reply = await self._command(session, text)
                if reply.hung_up:
                    return

    async def _command(self, session: CallSession, text: str) -> AgiReply:
        if session.ended.is_set():
            raise _Gone()
        command_id = f"vmm-{next(self._ids)}"
        future: asyncio.Future[AgiReply] = asyncio.get_running_loop().create_future()
        session.pending[command_id] = future  # before sending: the result may come with the reply
        if self._on_sent is not None:
            self._on_sent(session.channel, text)
        try:
            await self._client.action("AGI", [("Channel", session.channel), ("Command", text),
                                              ("CommandID", command_id)])
        except (AmiError, PermanentError):  # "Channel ... does not exist", connection lost, timeout
            session.pending.pop(command_id, None)
            raise _Gone() from None
        ended: asyncio.Future[Any] = asyncio.ensure_future(session.ended.wait())
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._command_timeout
            while not future.done():
                remaining = deadline - loop.time()
                if remaining <= 0 or not self._client.connected:
                    raise _Gone()
                await asyncio.wait([future, ended], timeout=min(1.0, remaining),
                                   return_when=asyncio.FIRST_COMPLETED)
                if ended.done() and not future.done():
                    raise _Gone()
            return future.result()
        finally:
            ended.cancel()
            session.pending.pop(command_id, None)
