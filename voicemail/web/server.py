"""Serving the web app with uvicorn: alone (`voicemail web`) or beside the AMI listener (`voicemail run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Generator

import uvicorn

from voicemail.app import Container, build_container
from voicemail.config import Settings
from voicemail.domain.errors import ConfigError
from voicemail.logs import adopt
from voicemail.observe.runtime import RuntimeStatus
from voicemail.web.tls_server import uvicorn_config
from voicemail.web.wiring import build_web_app

log = logging.getLogger(__name__)


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside another asyncio program: it leaves signal handling to that program; stop it by
    setting ``should_exit`` (graceful: in-flight requests finish)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit:  # uvicorn exits the process when it cannot listen
            c = self.config
            raise ConfigError(f"settings web_host / web_port (VOICEMAIL_WEB_HOST / VOICEMAIL_WEB_PORT): cannot "
                              f"listen on {c.host}:{c.port} (address in use or not allowed)") from None


def embedded_server(container: Container, ami_connected: Callable[[], bool] | None = None,
                    runtime: RuntimeStatus | None = None) -> EmbeddedServer:
    app = build_web_app(container, ami_connected=ami_connected, runtime=runtime)
    config = uvicorn_config(app, container.settings, log_level=container.settings.log_level.lower())
    adopt()  # uvicorn's loggers write through our redacting handler (text or JSON)
    return EmbeddedServer(config)


async def _until_signal(server: EmbeddedServer) -> None:
    loop = asyncio.get_running_loop()

    def stop() -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)
    await server.serve()


def serve(settings: Settings) -> None:
    """`voicemail web`: build the composition root, serve until SIGINT / SIGTERM (graceful: requests in
    flight finish; exit status 0), close everything."""
    container = build_container(settings, on_new=lambda _message_id: None)
    try:
        asyncio.run(_until_signal(embedded_server(container)))
    finally:
        container.close()
