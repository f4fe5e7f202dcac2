"""A local Microsoft Graph + Entra ID token endpoint for the tests: real HTTPS on 127.0.0.1.

Serves what msal and the sender call:
    GET  /<tenant>/v2.0/.well-known/openid-configuration   tenant discovery
    POST /<tenant>/oauth2/v2.0/token                      client credentials -> bearer token
    POST /v1.0/users/<sender>/sendMail                    202 Accepted (or what ``mode`` says)

Every sendMail body is checked against the shape of Graph's sendMail request (known properties only,
right types, as Graph answers 400 for an unknown property); problems are recorded in ``invalid``.

``mode``: "ok", "throttled" (429 + Retry-After), "unavailable" (503 + Retry-After), "error500",
"unauthorized" (401), "forbidden" (403), "invalid_recipient" (400 ErrorInvalidRecipients), "hang".
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.integration.mail.http_peer import LocalHttpPeer

MAX_BODY = 4 * 1024 * 1024
_MESSAGE_KEYS = {"subject", "body", "toRecipients", "ccRecipients", "bccRecipients", "importance",
                 "internetMessageHeaders", "singleValueExtendedProperties", "from", "replyTo", "attachments"}


def sendmail_problems(payload: Any) -> list[str]:
    """What Graph would refuse in a sendMail body (the subset of the schema we use, checked strictly)."""
    problems: list[str] = []
    if not isinstance(payload, dict) or set(payload) - {"message", "saveToSentItems"}:
        return ["the body must be an object with message and saveToSentItems only"]
    if not isinstance(payload.get("saveToSentItems", False), bool):
        problems.append("saveToSentItems must be a boolean")
    message = payload.get("message")
    if not isinstance(message, dict):
        return [*problems, "message must be an object"]
    problems.extend(f"unknown property message.{key}" for key in sorted(set(message) - _MESSAGE_KEYS))
    if not isinstance(message.get("subject"), str):
        problems.append("message.subject must be a string")
    body = message.get("body")
    if not (isinstance(body, dict) and body.get("contentType") in ("HTML", "Text", "html", "text")
            and isinstance(body.get("content"), str) and set(body) <= {"contentType", "content"}):
        problems.append("message.body must be {contentType, content}")
    recipients = message.get("toRecipients")
    if not (isinstance(recipients, list) and recipients and all(
            isinstance(r, dict) and isinstance(r.get("emailAddress"), dict)
            and isinstance(r["emailAddress"].get("address"), str) for r in recipients)):
        problems.append("message.toRecipients must be a non-empty list of {emailAddress: {address}}")
    if message.get("importance", "normal") not in ("low", "normal", "high"):
        problems.append("message.importance must be low, normal or high")
    for header in message.get("internetMessageHeaders", []):
        if not (isinstance(header, dict) and set(header) == {"name", "value"}
                and isinstance(header["name"], str) and header["name"].lower().startswith("x-")
                and isinstance(header["value"], str)):
            problems.append("internetMessageHeaders: only {name: 'X-...', value} is allowed")
    for prop in message.get("singleValueExtendedProperties", []):
        if not (isinstance(prop, dict) and set(prop) == {"id", "value"} and isinstance(prop["value"], str)):
            problems.append("singleValueExtendedProperties: {id, value} with a string value")
    return problems


class GraphPeer(LocalHttpPeer):
    def __init__(self, ssl_context: ssl.SSLContext, *, tenant: str = "contoso.example", client_id: str = "app-id",
                 client_secret: str = "app-secret", hang_limit: float = 10.0) -> None:
        self.tenant, self.client_id, self.client_secret = tenant, client_id, client_secret
        self.mode = "ok"
        self.retry_after = "11"
        self.messages: list[dict[str, Any]] = []  # accepted sendMail bodies
        self.raw: list[bytes] = []  # the same, as received
        self.paths: list[str] = []  # sendMail paths (the sender appears here)
        self.invalid: list[str] = []
        self.tokens_issued = 0
        self.token_scopes: list[str] = []
        super().__init__(_handler_for(self), "graph-peer", hang_limit, ssl_context)


def _handler_for(peer: GraphPeer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(value).encode() if value is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, header in (headers or {}).items():
                self.send_header(name, header)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, code: str, headers: dict[str, str] | None = None) -> None:
            self._json(status, {"error": {"code": code, "message": f"{code} (test peer)"}}, headers)

        def do_GET(self) -> None:
            if self.path == f"/{peer.tenant}/v2.0/.well-known/openid-configuration":
                base = f"{peer.origin}/{peer.tenant}"
                self._json(200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                                 "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                 "issuer": f"{base}/v2.0"})
            else:
                self._json(400, {"error": "invalid_tenant", "error_description": "unknown tenant"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 <= length <= MAX_BODY:
                self._error(413, "RequestEntityTooLarge")
                return
            body = self.rfile.read(length)
            if self.path == f"/{peer.tenant}/oauth2/v2.0/token":
                self._token(body)
            elif self.path.startswith("/v1.0/users/") and self.path.endswith("/sendMail"):
                self._send_mail(body)
            else:
                self._error(404, "ResourceNotFound")

        def _token(self, body: bytes) -> None:
            form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
            if (form.get("grant_type") != "client_credentials" or form.get("client_id") != peer.client_id
                    or form.get("client_secret") != peer.client_secret):
                self._json(401, {"error": "invalid_client", "error_description": "bad client credentials"})
                return
            with peer.lock:
                peer.tokens_issued += 1
                peer.token_scopes.append(form.get("scope", ""))
                token = f"graph-token-{peer.tokens_issued}"
            self._json(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                             "access_token": token})

        def _send_mail(self, body: bytes) -> None:
            if not self.headers.get("Authorization", "").startswith("Bearer graph-token-"):
                self._error(401, "InvalidAuthenticationToken")
                return
            with peer.lock:
                mode = peer.mode
            if mode == "unauthorized":
                self._error(401, "InvalidAuthenticationToken")
                return
            if mode == "forbidden":
                self._error(403, "ErrorAccessDenied")
                return
            try:
                payload = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                self._error(400, "RequestBodyRead")
                return
            problems = sendmail_problems(payload)
            if problems:
                with peer.lock:
                    peer.invalid.extend(problems)
                self._error(400, "RequestBodyRead")
                return
            if mode == "throttled":
                self._error(429, "ApplicationThrottled", {"Retry-After": peer.retry_after})
            elif mode == "unavailable":
                self._error(503, "ServiceUnavailable", {"Retry-After": peer.retry_after})
            elif mode == "error500":
                self._error(500, "InternalServerError")
            elif mode == "invalid_recipient":
                self._error(400, "ErrorInvalidRecipients")
            elif mode == "hang":
                deadline = time.monotonic() + peer.hang_limit
                peer.wait_released()
                if time.monotonic() < deadline:
                    self.close_connection = True
            else:
                with peer.lock:
                    peer.messages.append(payload)
                    peer.raw.append(body)
                    peer.paths.append(unquote(self.path))
                self._json(202, None)

    return Handler


@contextmanager
def running_graph_peer(ssl_context: ssl.SSLContext, **kwargs: Any) -> Iterator[GraphPeer]:
    peer = GraphPeer(ssl_context, **kwargs).start()
    try:
        yield peer
    finally:
        peer.stop()
