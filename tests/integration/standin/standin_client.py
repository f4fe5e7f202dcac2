"""A raw-socket AMI client for the stand-in tests (no dependency on voicemail.ami.client), and helpers."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import CAPTURES
from voicemail.ami.parser import AmiMessage, parse_block
from voicemail.standin import StandinConfig, StandinThread


@dataclass(frozen=True)
class Frame:
    raw: bytes  # exactly as received, terminating blank line included
    msg: AmiMessage

    def get(self, name: str) -> str | None:
        return self.msg.get(name)


class Ami:
    """Blocking AMI connection: send actions, collect frames (split on CRLF CRLF, raw bytes kept)."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.frames: list[Frame] = []
        self.closed = False
        while b"\r\n" not in self.buf:
            self._recv(timeout)
            if self.closed:
                break
        self.banner, _, self.buf = self.buf.partition(b"\r\n")
        self.banner += b"\r\n"

    def _recv(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
        self.buf += chunk

    def _split(self) -> None:
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            raw, self.buf = self.buf[: end + 4], self.buf[end + 4:]
            self.frames.append(Frame(raw, parse_block(raw[:-4].decode("utf-8", "replace"))))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, action: str, **headers: str) -> None:
        lines = [f"Action: {action}"] + [f"{k}: {v}" for k, v in headers.items()]
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode())

    def until(self, done: Callable[[list[Frame]], bool], timeout: float = 5.0) -> list[Frame]:
        """Read until ``done(frames)`` holds; returns every frame read so far. AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self._split()
            if done(self.frames):
                return self.frames
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                raise AssertionError(f"AMI wait failed (closed={self.closed}); frames: "
                                     f"{[f.raw[:80] for f in self.frames[-5:]]}")
            self._recv(min(left, 0.2))

    def take(self, done: Callable[[list[Frame]], bool], timeout: float = 5.0) -> list[Frame]:
        frames = list(self.until(done, timeout))
        self.frames.clear()
        return frames

    def action(self, action: str, action_id: str, timeout: float = 5.0, **headers: str) -> list[Frame]:
        """Send an action and return every frame up to its reply (or its list's Complete event)."""
        self.send(action, ActionID=action_id, **headers)

        def done(frames: list[Frame]) -> bool:
            own = [f for f in frames if f.get("ActionID") == action_id]
            if not own:
                return False
            if own[0].get("EventList") == "start":
                return any(f.get("EventList") == "Complete" for f in own[1:])
            return True

        return self.take(done, timeout)

    def login(self, events: str = "on", username: str = "lab", secret: str = "labsecret") -> list[Frame]:
        self.send("Login", ActionID="login", Username=username, Secret=secret, Events=events)

        def done(frames: list[Frame]) -> bool:
            answered = any(f.get("ActionID") == "login" for f in frames)
            return answered and (events != "on" or any(f.get("Event") == "SuccessfulAuth" for f in frames))

        return self.take(done)

    def sync(self, timeout: float = 10.0) -> list[Frame]:
        """Everything sent before a Ping's reply (events of calls that already ended come first)."""
        frames = self.action("Ping", "sync", timeout=timeout)
        return [f for f in frames if f.get("ActionID") != "sync"]

    def wait_closed(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self._recv(0.1)
        return self.closed

    def close(self) -> None:
        with suppress(OSError):
            self.sock.close()


def reply(frames: list[Frame], action_id: str) -> Frame:
    return next(f for f in frames if f.get("ActionID") == action_id and f.get("Response"))


def events(frames: list[Frame], name: str) -> list[Frame]:
    return [f for f in frames if f.get("Event") == name]


@contextmanager
def running(spool: Path, **kw: object) -> Iterator[StandinThread]:
    """A fresh stand-in in a background thread."""
    standin = StandinThread(StandinConfig(spool_dir=spool, **kw))  # type: ignore[arg-type]
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@contextmanager
def connected(standin: StandinThread, events_on: str = "on") -> Iterator[Ami]:
    ami = Ami(standin.port)
    try:
        ami.login(events_on)
        yield ami
    finally:
        ami.close()


def capture_blocks(name: str) -> list[bytes]:
    """The server->client messages of a capture, raw (``.rx.ami.txt``), banner dropped."""
    raw = (CAPTURES / f"{name}.rx.ami.txt").read_bytes()
    raw = raw.split(b"\r\n", 1)[1]
    out = []
    while raw:
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            break
        out.append(raw[: end + 4])
        raw = raw[end + 4:]
    return out
