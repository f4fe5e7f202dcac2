"""What the EWS and Graph test peers share: a threaded HTTP(S) server on a free loopback port."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LocalHttpPeer:
    """Serves ``handler`` on 127.0.0.1 (TLS when ``ssl_context`` is given) until ``stop``.

    ``wait_released`` lets a handler hang (to test client timeouts) until the peer stops.
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str, hang_limit: float,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.hang_limit = hang_limit
        self.lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._scheme = "http"
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=name, daemon=True)

    @property
    def origin(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait_released(self) -> None:
        self._release.wait(self.hang_limit)
