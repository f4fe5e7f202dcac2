"""A real SMTP server (aiosmtpd, plain, no AUTH) for fault scenarios, with a hook at RCPT: the moment a
worker is in the middle of a send (connected, envelope half given, message not yet handed over)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller

from tests.integration.mail.smtp_peer import SmtpRecorder, free_port


@dataclass
class HookedRecorder(SmtpRecorder):
    """``on_rcpt(n)`` runs (awaited) when the n-th RCPT of the server's life arrives, before the reply."""

    on_rcpt: Callable[[int], Awaitable[None]] | None = None
    rcpts: int = 0
    accepted: list[bytes] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        self.rcpts += 1
        if self.on_rcpt is not None:
            await self.on_rcpt(self.rcpts)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted.append(bytes(envelope.content))
        return await super().handle_DATA(server, session, envelope)


class SmtpSink:
    def __init__(self) -> None:
        self.recorder = HookedRecorder()
        self.port = free_port()
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)

    def env(self) -> dict[str, str]:
        return {"VOICEMAIL_MAILER": "smtp", "VOICEMAIL_SMTP_HOST": "127.0.0.1",
                "VOICEMAIL_SMTP_PORT": str(self.port), "VOICEMAIL_SMTP_TLS": "none"}

    @property
    def contents(self) -> list[bytes]:
        return list(self.recorder.accepted)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


async def until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Inside the server's event loop: wait (without blocking it) until ``predicate`` or the timeout."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.05)
    return False
