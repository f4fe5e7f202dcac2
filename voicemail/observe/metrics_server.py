"""A listener of its own for /metrics (settings metrics_host / metrics_port), for `voicemail run`: so that
the listener's AMI figures can be scraped with `--no-web`, or from an internal address only while the web
app faces users. Plain HTTP in a daemon thread; the same scrape policy as the web app's /metrics."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from sqlalchemy.engine import Engine

from voicemail.config import Settings
from voicemail.domain.errors import ConfigError
from voicemail.observe.access import PROXY_HEADERS
from voicemail.observe.observer import Observer, build_observer
from voicemail.observe.runtime import RuntimeStatus

log = logging.getLogger(__name__)
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged (one line every few seconds says nothing)."""


def guarded_app(observer: Observer) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """GET /metrics for the policy's clients; everything else 404."""
    metrics = make_wsgi_app(observer.registry, disable_compression=True)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        proxied = any("HTTP_" + h.upper().replace("-", "_") in environ for h in PROXY_HEADERS)
        allowed = observer.policy.allows(environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION"),
                                         proxied=proxied)
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") != "GET" or not allowed:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found\n"]
        body: Iterable[bytes] = metrics(environ, start_response)
        return body

    return app


class MetricsServer:
    def __init__(self, observer: Observer, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(ThreadingWSGIServer):
            address_family = family

        try:
            self._httpd: WSGIServer = make_server(host, port, guarded_app(observer), Server,
                                                  handler_class=_QuietHandler)
        except OSError as exc:
            raise ConfigError(f"settings metrics_host / metrics_port (VOICEMAIL_METRICS_HOST / VOICEMAIL_METRICS_PORT):"
                              f" cannot listen on {host}:{port} ({exc.strerror or type(exc).__name__})") from None
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("metrics served on port %d", self.port)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def serve_metrics(engine: Engine, settings: Settings, runtime: RuntimeStatus) -> MetricsServer:
    """Build the observer of `voicemail run` and start its /metrics listener."""
    server = MetricsServer(build_observer(engine, settings, runtime), settings.metrics_host, settings.metrics_port)
    server.start()
    return server
