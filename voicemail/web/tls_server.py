"""Serving the web app with uvicorn so that the app sees the verified client certificate.

uvicorn verifies a client certificate (``ssl_cert_reqs`` + ``ssl_ca_certs``) but does not put it in the
ASGI scope. ``PeerCertH11Protocol`` is uvicorn's h11 protocol that, for each connection, adds

- ``scope["extensions"]["tls"]`` as the ASGI TLS extension describes it (``client_cert_chain``: the PEM
  of the peer's certificate — Python's ssl module exposes only the leaf —, ``tls_version``), and
- ``scope["extensions"]["voicemail.peer"]``: the TCP peer address, recorded before uvicorn's
  proxy-headers middleware may rewrite ``scope["client"]`` from X-Forwarded-For, so that the
  trusted-proxy check of the certificate header always looks at the real connection.

``uvicorn_config`` builds the uvicorn.Config from the settings: TLS with the server certificate
(``web_tls_cert`` / ``web_tls_key``) and, when ``web_client_cert_mode`` is optional or required, the
client CA bundle ``web_client_ca_file``.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from voicemail.config import Settings
from voicemail.web.piv_source import PEER_EXTENSION

CERT_REQS = {"off": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}

ASGIApp = Any


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, Any] | None:
    """The ASGI TLS extension for one connection (None on plain HTTP)."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    return {"server_cert": None, "client_cert_chain": chain, "client_cert_name": None,
            "client_cert_error": None, "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
            "cipher_suite": None}


def with_connection_info(app: ASGIApp, tls: dict[str, Any] | None, peer: tuple[str, int] | None) -> ASGIApp:
    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") in ("http", "websocket"):
            extensions = dict(scope.get("extensions") or {})
            if tls is not None:
                extensions["tls"] = tls
            if peer is not None:
                extensions[PEER_EXTENSION] = peer
            scope["extensions"] = extensions
        await app(scope, receive, send)
    return wrapped


class PeerCertH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus the client certificate and the real peer in the scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        tls = tls_extension(transport.get_extra_info("ssl_object"))
        self.app = with_connection_info(self.config.loaded_app, tls, self.client)


def uvicorn_config(app: ASGIApp, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """uvicorn settings for the web app; keyword overrides (host, port, log_level…) win."""
    options: dict[str, Any] = {"host": settings.web_host, "port": settings.web_port, "http": PeerCertH11Protocol,
                               "lifespan": "on", "server_header": False}
    if settings.web_forwarded_allow_ips:
        options.update(proxy_headers=True, forwarded_allow_ips=settings.web_forwarded_allow_ips)
    else:
        options["proxy_headers"] = False
    if settings.web_tls_cert:
        options.update(ssl_certfile=settings.web_tls_cert, ssl_keyfile=settings.web_tls_key or None)
        if settings.web_client_cert_mode != "off":
            options.update(ssl_cert_reqs=CERT_REQS[settings.web_client_cert_mode],
                           ssl_ca_certs=settings.web_client_ca_file)
    options.update(overrides)
    return uvicorn.Config(app, **options)
