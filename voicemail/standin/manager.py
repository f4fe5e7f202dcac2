"""One AMI session (manager.c): banner, Login, the action dispatch, event delivery.

Actions are handled one at a time per session, in order, like Asterisk's per-session thread. A frame
larger than MAX_FRAME_BYTES, or any other breakage of the framing, closes that session only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from voicemail.ami.parser import AmiMessage, AmiParser, AmiProtocolError
from voicemail.standin import actions, astdb, events, replies
from voicemail.standin.actions import Outcome
from voicemail.standin.channel import parse_callerid
from voicemail.standin.commands import cli_output, list_commands
from voicemail.standin.config import BANNER
from voicemail.standin.originate import OriginateFailed, OriginateRequest, fail, start, wait_answered
from voicemail.standin.wire import ALL, Event, encode, parse_event_mask

if TYPE_CHECKING:
    from voicemail.standin.server import AsteriskStandin

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
MAX_HEADERS = 128               # AST_MAX_MANHEADERS: further headers are ignored
MAX_PENDING_WRITE = 16 * 1024 * 1024
SYNC_ORIGINATE_TIMEOUT = 30.0
CLOSE_DRAIN_SECONDS = 5.0
PRE_LOGIN = frozenset({"login", "logoff", "challenge"})


def _addr(sockaddr: object) -> str:
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        host, port = sockaddr[0], sockaddr[1]
        family = "IPV6" if ":" in str(host) else "IPV4"
        return f"{family}/TCP/{host}/{port}"
    return "IPV4/TCP/0.0.0.0/0"


class Session:
    def __init__(self, server: AsteriskStandin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.pbx = server.pbx
        self.reader = reader
        self.writer = writer
        self.authenticated = False
        self.username = ""
        self.mask: frozenset[str] = ALL
        self.closed = False
        self.held = bytearray()
        self.session_id = f"0x7f{random.getrandbits(36):09x}0"
        self.local = _addr(writer.get_extra_info("sockname"))
        self.remote = _addr(writer.get_extra_info("peername"))
        self.session_tv = self.pbx.now()
        self.parser = AmiParser(expect_banner=False, lf_lines=True, max_message_bytes=MAX_FRAME_BYTES)
        self.handlers: dict[str, Callable[[AmiMessage], Awaitable[None]]] = {
            "login": self.login, "logoff": self.logoff, "ping": self.ping, "events": self.events,
            "listcommands": self.list_commands, "command": self.command, "originate": self.originate,
            "agi": self.agi,
        }
        simple: dict[str, Callable[..., Outcome]] = {
            "voicemailuserslist": actions.users_list, "voicemailuserstatus": actions.user_status,
            "voicemailboxsummary": actions.box_summary, "mailboxcount": actions.mailbox_count,
            "mailboxstatus": actions.mailbox_status, "voicemailrefresh": actions.refresh,
            "voicemailmove": actions.move, "voicemailremove": actions.remove,
            "voicemailforward": actions.forward,
        }
        for name, fn in simple.items():
            self.handlers[name] = self._simple(fn)
        db_actions: dict[str, Callable[[astdb.AstDb, AmiMessage], list[bytes]]] = {
            "dbput": astdb.db_put, "dbget": astdb.db_get, "dbgettree": astdb.db_get_tree, "dbdel": astdb.db_del,
            "dbdeltree": astdb.db_del_tree,
        }
        for name, db_fn in db_actions.items():
            self.handlers[name] = self._db(db_fn)

    # --- output --------------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        if self.server.paused:
            if len(self.held) < MAX_PENDING_WRITE:
                self.held += data
            return
        try:
            self.writer.write(data)
        except (ConnectionError, RuntimeError):
            self.abort()
            return
        transport = self.writer.transport
        if transport.get_write_buffer_size() > MAX_PENDING_WRITE:
            log.warning("standin: AMI client does not read its events; closing the session")
            self.abort()

    def flush_held(self) -> None:
        if self.held and not self.closed:
            data, self.held = bytes(self.held), bytearray()
            self.send(data)

    def deliver(self, event: Event) -> None:
        if self.authenticated and event.category in self.mask:
            self.send(event.data)

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.transport.abort()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.drain(), CLOSE_DRAIN_SECONDS)
            with contextlib.suppress(Exception):
                self.writer.close()

    # --- the session loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        self.send(BANNER)
        try:
            while not self.closed:
                await self.server.resumed.wait()
                data = await self.reader.read(65536)
                if not data:
                    break
                for msg in self.parser.feed(data):
                    await self.server.resumed.wait()
                    if self.closed:
                        break
                    await self.handle(AmiMessage(msg.headers[:MAX_HEADERS]))
        except AmiProtocolError:
            log.warning("standin: AMI frame too large or broken; closing that session")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            self.abort()
            raise
        except Exception:
            log.exception("standin: AMI session failed; closing it")
        finally:
            self.server.activity.append((time.monotonic(), self.session_id, "closed"))
            if not self.closed:
                await self.close()

    async def handle(self, m: AmiMessage) -> None:
        action = (m.get("Action") or "").strip()
        if not action:
            self.send(replies.error(m, "Missing action in request"))
            return
        name = action.lower()
        self.server.activity.append((time.monotonic(), self.session_id, name))
        if not self.authenticated and name not in PRE_LOGIN:
            self.send(replies.error(m, "Permission denied"))
            return
        handler = self.handlers.get(name)
        if handler is None:
            self.send(replies.error(m, f"Invalid/unknown command: {action}. Use Action: ListCommands to show "
                                       "available commands."))
            self.security("RequestBadFormat", "Error", [
                ("SessionID", self.session_id), ("LocalAddress", self.local), ("RemoteAddress", self.remote),
                ("RequestType", f"Action: {action}"), ("SessionTV", events.event_tv(self.session_tv)),
                ("AccountID", self.username)])
            return
        await handler(m)

    def security(self, name: str, severity: str, body: list[tuple[str, str]]) -> None:
        self.server.publish(events.security(name, severity, self.pbx.now(), body))

    def _simple(self, fn: Callable[..., Outcome]) -> Callable[[AmiMessage], Awaitable[None]]:
        async def run(m: AmiMessage) -> None:
            outcome = fn(self.pbx, m)
            for data in outcome.replies:
                self.send(data)
            if outcome.then is not None:
                outcome.then()
        return run

    def _db(self, fn: Callable[[astdb.AstDb, AmiMessage], list[bytes]]) -> Callable[[AmiMessage], Awaitable[None]]:
        async def run(m: AmiMessage) -> None:
            for data in fn(self.pbx.astdb, m):
                self.send(data)
        return run

    # --- core actions --------------------------------------------------------------------------------

    async def login(self, m: AmiMessage) -> None:
        if self.authenticated:
            self.send(replies.ack(m, "Already authenticated"))
            return
        config = self.server.config
        user = m.get("Username") or ""
        secret = m.get("Secret") or ""
        if user.lower() != config.username.lower() or secret != config.secret:
            await asyncio.sleep(self.pbx.timing.scaled(self.pbx.timing.failed_login_pause))
            self.send(replies.error(m, "Authentication failed"))
            await self.close()
            return
        requested = m.get("Events")
        if requested:
            mask = parse_event_mask(requested)
            if mask is not None:
                self.mask = mask
        self.authenticated = True
        self.username = config.username
        self.session_tv = self.pbx.now()
        self.send(replies.ack(m, "Authentication accepted"))
        if "system" in self.mask:
            self.send(events.fully_booted(int(self.pbx.now() - self.pbx.started)).data)
        self.security("SuccessfulAuth", "Informational", [
            ("AccountID", self.username), ("SessionID", self.session_id), ("LocalAddress", self.local),
            ("RemoteAddress", self.remote), ("UsingPassword", "0"),
            ("SessionTV", events.event_tv(self.session_tv))])

    async def logoff(self, m: AmiMessage) -> None:
        self.send(replies.response(m, "Goodbye", "Thanks for all the fish."))
        await self.close()

    async def ping(self, m: AmiMessage) -> None:
        now = time.time()
        stamp = f"{int(now)}.{int(now * 1e6) % 1000000:06d}"
        self.send(replies.start_ack(m, [("Ping", "Pong"), ("Timestamp", stamp)]))

    async def events(self, m: AmiMessage) -> None:
        mask = parse_event_mask(m.get("EventMask") or "")
        if mask is None:
            self.send(replies.error(m, "Invalid event mask"))
            return
        self.mask = mask
        self.send(replies.start_ack(m, [("Events", "On" if mask else "Off")]))

    async def list_commands(self, m: AmiMessage) -> None:
        lines = list_commands()
        head = replies.start_ack(m, [])[:-2]
        self.send(head + "".join(f"{line}\r\n" for line in lines).encode() + b"\r\n")

    async def command(self, m: AmiMessage) -> None:
        cmd = (m.get("Command") or "").strip()
        if not cmd:
            self.send(replies.error(m, "No command provided"))
            return
        output = cli_output(self.pbx, cmd)
        self.send(encode([("Response", "Success"), *([("ActionID", m["ActionID"])] if m.get("ActionID") else []),
                          ("Message", "Command output follows"), *(("Output", line) for line in output)]))

    async def originate(self, m: AmiMessage) -> None:
        channel = m.get("Channel") or ""
        if not channel:
            self.send(replies.error(m, "Channel not specified"))
            return
        priority = m.get("Priority") or ""
        if priority and not priority.strip().lstrip("-").isdigit():
            self.send(replies.error(m, "Invalid priority"))
            return
        timeout = m.get("Timeout") or ""
        if timeout and not timeout.strip().lstrip("-").isdigit():
            self.send(replies.error(m, "Invalid timeout"))
            return
        if "/" not in channel:
            self.send(replies.error(m, "Invalid channel"))
            return
        callerid = m.get("CallerID") or ""
        req = OriginateRequest(
            channel=channel, application=m.get("Application") or "", data=m.get("Data") or "",
            context=m.get("Context") or "", exten=m.get("Exten") or "",
            caller=parse_callerid(callerid),
            action_id=m.get("ActionID") or None, announce=_true(m.get("Async") or ""),
            timeout_ms=int(timeout) if timeout.strip() else 30000,
            channel_id=(m.get("ChannelId") or "").strip(), other_channel_id=(m.get("OtherChannelId") or "").strip())
        if req.announce:
            self.send(replies.ack(m, "Originate successfully queued"))
            try:
                start(self.pbx, req)
            except OriginateFailed:
                fail(self.pbx, req)
            return
        try:
            call = start(self.pbx, req)
        except OriginateFailed:
            self.send(replies.error(m, "Originate failed"))
            return
        if await wait_answered(call, SYNC_ORIGINATE_TIMEOUT):
            self.send(replies.ack(m, "Originate successfully queued"))
        else:
            self.send(replies.error(m, "Originate failed"))

    async def agi(self, m: AmiMessage) -> None:
        channel = m.get("Channel") or ""
        command = m.get("Command") or ""
        if not channel or not command:
            self.send(replies.error(m, "Both, Channel and Command are *required*"))
            return
        if channel.lower() not in self.pbx.channels:
            self.send(replies.error(m, f"Channel {channel} does not exist."))
            return
        session = self.pbx.agi.get(channel.lower())
        if session is None or not session.add(command, m.get("CommandID") or ""):
            self.send(replies.error(m, f"Failed to add AGI command to channel {channel} queue"))
            return
        self.send(replies.ack(m, "Added AGI command to queue"))


def _true(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "y", "t", "1", "on")
