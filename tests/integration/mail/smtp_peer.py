"""A real SMTP server for the tests (aiosmtpd) on 127.0.0.1: STARTTLS, implicit TLS or plain; AUTH PLAIN /
LOGIN checked against one user; recipients refused or deferred on demand."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes  # exactly what followed DATA, dot-unstuffed, CRLF line ends
    peer: tuple[str, int] = ("", 0)  # the client's address and port: one value per connection


@dataclass
class SmtpRecorder:
    """The aiosmtpd handler: keeps what it accepts; ``refuse`` / ``defer`` name recipients to turn away."""

    refuse: set[str] = field(default_factory=set)
    defer: set[str] = field(default_factory=set)
    delivered: list[Delivered] = field(default_factory=list)
    sessions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        if address in self.defer:
            return "451 4.3.0 Mailbox temporarily unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.delivered.append(Delivered(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content),
                                            tuple(session.peer)))
        return "250 2.0.0 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SmtpPeer:
    def __init__(self, *, tls: str, context: ssl.SSLContext | None, username: str = "voicemail",
                 password: str = "s3cret-pass", port: int | None = None) -> None:
        self.tls, self.username, self.password = tls, username, password
        self.recorder = SmtpRecorder()
        self.port = port or free_port()
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port, "server_hostname": "localhost"}
        if tls == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        elif tls == "implicit":
            kwargs.update(ssl_context=context)
        self._auth = tls != "none"
        if self._auth:
            # aiosmtpd knows of TLS only through STARTTLS; an implicit-TLS connection is encrypted anyway.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=tls == "starttls")
        self.controller = Controller(self.recorder, **kwargs)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.username.encode() and auth_data.password == self.password.encode())
        return AuthResult(success=ok, handled=False)

    @property
    def delivered(self) -> list[Delivered]:
        return self.recorder.delivered

    def start(self) -> SmtpPeer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@contextmanager
def running_smtp_peer(tls: str, context: ssl.SSLContext | None = None, **kwargs: Any) -> Iterator[SmtpPeer]:
    peer = SmtpPeer(tls=tls, context=context, **kwargs).start()
    try:
        yield peer
    finally:
        peer.stop()
