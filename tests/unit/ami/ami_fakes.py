"""Small in-test AMI servers (real TCP on 127.0.0.1) that answer with bytes from the real captures."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl as _ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

from voicemail.ami.parser import AmiMessage, AmiParser

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def rx_blocks(captures: Path, name: str) -> list[bytes]:
    """The server->client messages of a capture, each exactly as on the wire (without its CRLF CRLF)."""
    data = (captures / f"{name}.rx.ami.txt").read_bytes()
    assert data.startswith(BANNER)
    return [b for b in data[len(BANNER):].split(b"\r\n\r\n") if b]


def reply_bytes(captures: Path, name: str, lab_id: str, action_id: str) -> bytes:
    """Every message of the capture that carries ``ActionID: <lab_id>`` (reply and list events), in
    order, with the ActionID rewritten to ``action_id``. Byte-exact otherwise (bare LFs kept)."""
    marker = f"ActionID: {lab_id}\r\n".encode()
    picked = [b for b in rx_blocks(captures, name) if marker in b + b"\r\n"]
    assert picked, f"no message with ActionID {lab_id} in {name}"
    pattern = re.compile(rb"(?m)^ActionID: " + re.escape(lab_id.encode()) + rb"(?=\r\n|\Z)")
    return b"".join(pattern.sub(b"ActionID: " + action_id.encode(), b) + b"\r\n\r\n" for b in picked)


def response(action_id: str, *lines: str, status: str = "Success") -> bytes:
    body = "".join(f"{line}\r\n" for line in lines)
    return f"Response: {status}\r\nActionID: {action_id}\r\n{body}\r\n".encode()


Handler = Callable[["Session", AmiMessage], Awaitable[None]]


class Session:
    """One client connection as the server sees it."""

    def __init__(self, server: FakeAsterisk, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.raw = bytearray()  # every byte the client sent
        self.actions: list[AmiMessage] = []
        self.logged_in = False
        self.closed = asyncio.Event()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def drop(self) -> None:
        self.writer.transport.abort()


class FakeAsterisk:
    """Speaks the server side of AMI: banner, Login, Ping, Logoff; other actions go to ``on_action``.

    Client frames are parsed as Asterisk does (bare-LF lines accepted), and every frame is checked to
    be well-formed: an ``Action`` first, an ``ActionID`` second, no empty or colon-less line.
    """

    def __init__(self, on_action: Handler | None = None, *, login_ok: bool = True,
                 answer_ping: bool = True) -> None:
        self.on_action = on_action
        self.login_ok = login_ok
        self.answer_ping = answer_ping
        self.sessions: list[Session] = []
        self.malformed: list[bytes] = []
        self.logins = 0
        self.connected = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0, ssl: _ssl.SSLContext | None = None) -> FakeAsterisk:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port, ssl=ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for session in self.sessions:
                session.drop()
            for session in self.sessions:  # every handler has finished and closed its socket
                await session.closed.wait()
            await self._server.wait_closed()
            self._server = None

    def received(self, action: str) -> list[AmiMessage]:
        return [m for s in self.sessions for m in s.actions if m.action == action]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        self.sessions.append(session)
        parser = AmiParser(expect_banner=False, lf_lines=True)
        try:
            await session.send(BANNER)
            while data := await reader.read(65536):
                session.raw += data
                for msg in parser.feed(data):
                    self._check_frame(msg)
                    session.actions.append(msg)
                    await self._answer(session, msg)
        except (ConnectionError, OSError):
            pass
        finally:
            session.closed.set()
            with contextlib.suppress(Exception):
                writer.close()

    def _check_frame(self, msg: AmiMessage) -> None:
        keys = [k for k, _ in msg.headers]
        if len(keys) < 2 or keys[0] != "Action" or keys[1] != "ActionID" or "" in keys:
            self.malformed.append(repr(msg).encode())

    async def _answer(self, session: Session, msg: AmiMessage) -> None:
        action_id = msg.action_id or ""
        name = (msg.action or "").lower()
        if name == "login":
            self.logins += 1
            if self.login_ok:
                session.logged_in = True
                await session.send(response(action_id, "Message: Authentication accepted"))
                await session.send(b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 1\r\n"
                                   b"LastReload: 1\r\nStatus: Fully Booted\r\n\r\n")
                self.connected.set()
            else:
                await session.send(response(action_id, "Message: Authentication failed", status="Error"))
                session.drop()
        elif name == "ping":
            if self.answer_ping:
                await session.send(response(action_id, "Ping: Pong", "Timestamp: 1795978545.000000"))
        elif name == "logoff":
            await session.send(response(action_id, "Message: Thanks for all the fish.", status="Goodbye"))
        elif self.on_action is not None:
            await self.on_action(session, msg)
        else:
            await session.send(response(action_id, "Message: ok"))
