"""A local EWS endpoint for the tests: real HTTP on 127.0.0.1, every request validated against Microsoft's
schema, answers that are themselves schema-valid.

Authentication: Basic, NTLM (a real NTLM handshake checked by pyspnego against a user file) or an OAuth2
bearer token issued by its own token endpoint (``POST /<tenant>/oauth2/v2.0/token``).

``mode`` says how to answer the next CreateItem requests:
    "ok"                 CreateItemResponse, ResponseClass Success
    "unauthorized"       HTTP 401
    "forbidden"          HTTP 403
    "busy"               SOAP fault ErrorServerBusy with BackOffMilliseconds = busy_ms
    "error500"           HTTP 500 with an HTML error page
    "throttled"          HTTP 503 with Retry-After: retry_after
    "hang"               never answers until the peer stops (bounded: at most hang_limit seconds)
    "invalid_recipient"  CreateItemResponse, ResponseClass Error, ErrorInvalidRecipients
    "schema_fault"       SOAP fault ErrorSchemaValidation (what Exchange answers to an invalid request)
A request that fails schema validation is always answered with ErrorSchemaValidation and recorded in
``invalid``.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tests.integration.mail.ews_schema import SOAP, M, T, parse_xml, soap_problems
from tests.integration.mail.http_peer import LocalHttpPeer

MAX_BODY = 4 * 1024 * 1024
_RESPONSE_NS = f'xmlns:s="{SOAP}" xmlns:m="{M}" xmlns:t="{T}"'
_SERVER_VERSION = ('<s:Header><t:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" '
                   'MinorBuildNumber="6" Version="V2017_07_11"/></s:Header>')


def create_item_response(response_class: str = "Success", code: str = "NoError", text: str = "") -> bytes:
    message_text = f"<m:MessageText>{text}</m:MessageText>" if text else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope {_RESPONSE_NS}>{_SERVER_VERSION}<s:Body>'
            f'<m:CreateItemResponse><m:ResponseMessages><m:CreateItemResponseMessage ResponseClass="{response_class}">'
            f"{message_text}<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
            "<m:Items/></m:CreateItemResponseMessage></m:ResponseMessages></m:CreateItemResponse>"
            "</s:Body></s:Envelope>").encode()


def soap_fault(code: str, text: str, back_off_ms: int | None = None) -> bytes:
    message_xml = (f'<t:MessageXml xmlns:t="{T}"><t:Value Name="BackOffMilliseconds">{back_off_ms}</t:Value>'
                   "</t:MessageXml>") if back_off_ms is not None else ""
    errors = "http://schemas.microsoft.com/exchange/services/2006/errors"
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}"><s:Body><s:Fault>'
            f'<faultcode xmlns:a="{T}">a:{code}</faultcode><faultstring xml:lang="en-US">{text}</faultstring>'
            f'<detail><e:ResponseCode xmlns:e="{errors}">{code}</e:ResponseCode>'
            f'<e:Message xmlns:e="{errors}">{text}</e:Message>{message_xml}</detail>'
            "</s:Fault></s:Body></s:Envelope>").encode()


class EwsPeer(LocalHttpPeer):
    def __init__(self, *, username: str = "svc-voicemail", password: str = "correct horse",
                 client_id: str = "app-id", client_secret: str = "app-secret", ntlm_user_file: Path | None = None,
                 hang_limit: float = 10.0) -> None:
        self.username, self.password = username, password
        self.client_id, self.client_secret = client_id, client_secret
        self.ntlm_user_file = ntlm_user_file
        self.mode = "ok"
        self.busy_ms = 1500
        self.retry_after = "7"
        self.requests: list[bytes] = []  # every valid CreateItem request body, in order
        self.invalid: list[str] = []  # schema problems of invalid requests
        self.auth_seen: list[str] = []  # "basic", "ntlm", "bearer" per authenticated request
        self.tokens_issued = 0
        super().__init__(_handler_for(self), "ews-peer", hang_limit)

    @property
    def url(self) -> str:
        return f"{self.origin}/EWS/Exchange.asmx"

    def issue_token(self) -> str:
        with self.lock:
            self.tokens_issued += 1
            return f"ews-token-{self.tokens_issued}"


def _handler_for(peer: EwsPeer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: NTLM authenticates a connection
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
        _ntlm_context: Any = None  # per connection: NTLM authenticates the connection, not the request
        _challenge: str | None = None

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, body: bytes = b"", content_type: str = "text/xml; charset=utf-8",
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 <= length <= MAX_BODY:
                raise ValueError("body too large")
            return self.rfile.read(length)

        # --- authentication -------------------------------------------------------------------
        def _authenticated(self) -> str | None:
            header = self.headers.get("Authorization", "")
            scheme, _, value = header.partition(" ")
            if scheme == "Basic":
                expected = base64.b64encode(f"{peer.username}:{peer.password}".encode()).decode()
                return "basic" if value == expected else None
            if scheme == "Bearer":
                return "bearer" if value.startswith("ews-token-") else None
            if scheme == "NTLM" and peer.ntlm_user_file is not None:
                return self._ntlm(value)
            return None

        def _ntlm(self, token: str) -> str | None:
            import spnego

            context = self._ntlm_context
            if context is None or context.complete:
                os.environ["NTLM_USER_FILE"] = str(peer.ntlm_user_file)
                context = spnego.server(protocol="ntlm")
                self._ntlm_context = context
            try:
                out = context.step(base64.b64decode(token))
            except Exception:
                self._ntlm_context = None
                return None
            if not context.complete:
                self._challenge = base64.b64encode(out or b"").decode()
                return "ntlm-challenge"
            return "ntlm"

        def _refuse(self) -> None:
            headers = {"WWW-Authenticate": "Basic realm=\"ews\""}
            if self._challenge:
                headers = {"WWW-Authenticate": f"NTLM {self._challenge}"}
                self._challenge = None
            elif peer.ntlm_user_file is not None:
                headers = {"WWW-Authenticate": "NTLM"}
            self._send(401, b"", "text/plain", headers)

        # --- routes -----------------------------------------------------------------------------
        def do_POST(self) -> None:
            try:
                body = self._body()
            except ValueError:
                self._send(413, b"", "text/plain")
                return
            if self.path.endswith("/oauth2/v2.0/token"):
                self._token(body)
                return
            if self.path != "/EWS/Exchange.asmx":
                self._send(404, b"", "text/plain")
                return
            who = self._authenticated()
            if who == "ntlm-challenge" or who is None:
                self._refuse()
                return
            with peer.lock:
                peer.auth_seen.append(who)
                mode = peer.mode
            if mode == "unauthorized":
                self._send(401, b"", "text/plain", {"WWW-Authenticate": "Basic realm=\"ews\""})
                return
            if mode == "forbidden":
                self._send(403, b"", "text/plain")
                return
            problems = soap_problems(body)
            if problems:
                with peer.lock:
                    peer.invalid.extend(problems)
                self._send(500, soap_fault("ErrorSchemaValidation", "The request failed schema validation."))
                return
            root = parse_xml(body)
            body_element = root.find(f"{{{SOAP}}}Body")
            assert body_element is not None  # the schema check above saw it
            operation = body_element[0]
            if operation.tag != f"{{{M}}}CreateItem":
                self._send(500, soap_fault("ErrorInvalidRequest", "Only CreateItem is served here."))
                return
            with peer.lock:
                peer.requests.append(body)
            self._answer(mode)

        def _answer(self, mode: str) -> None:
            if mode == "ok":
                self._send(200, create_item_response())
            elif mode == "busy":
                self._send(500, soap_fault("ErrorServerBusy", "The server cannot service this request right now.",
                                           back_off_ms=peer.busy_ms))
            elif mode == "error500":
                self._send(500, b"<html><body>Server Error in '/EWS' Application.</body></html>", "text/html")
            elif mode == "throttled":
                self._send(503, b"", "text/plain", {"Retry-After": peer.retry_after})
            elif mode == "hang":
                deadline = time.monotonic() + peer.hang_limit
                peer.wait_released()
                if time.monotonic() < deadline:
                    self.close_connection = True
            elif mode == "invalid_recipient":
                self._send(200, create_item_response("Error", "ErrorInvalidRecipients",
                                                     "At least one recipient isn't valid."))
            elif mode == "schema_fault":
                self._send(500, soap_fault("ErrorSchemaValidation", "The request failed schema validation."))
            else:
                raise AssertionError(f"unknown mode {mode}")

        def _token(self, body: bytes) -> None:
            form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                form.setdefault("client_id", client_id)
                form.setdefault("client_secret", secret)
            if (form.get("grant_type") != "client_credentials" or form.get("client_id") != peer.client_id
                    or form.get("client_secret") != peer.client_secret):
                self._send(401, json.dumps({"error": "invalid_client"}).encode(), "application/json")
                return
            token = {"token_type": "Bearer", "expires_in": 3599, "access_token": peer.issue_token(),
                     "scope": form.get("scope", "")}
            self._send(200, json.dumps(token).encode(), "application/json")

    return Handler


@contextmanager
def running_ews_peer(**kwargs: Any) -> Iterator[EwsPeer]:
    peer = EwsPeer(**kwargs).start()
    try:
        yield peer
    finally:
        peer.stop()
