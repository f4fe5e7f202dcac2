"""A small but real OpenID Connect provider for the tests, speaking HTTP on a free loopback port.

Discovery document, JWKS, authorization endpoint (the "signed-in user" is whoever the test says:
``provider.user``), token endpoint (client_secret_basic, single-use codes, PKCE S256 checked) and RS256
ID tokens carrying the nonce. Its RSA key is generated when it starts. ``provider.fault`` makes it
misbehave the way a broken or hostile provider would: wrong_nonce, bad_signature, expired,
wrong_audience, wrong_issuer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "voicemail-test"
CLIENT_SECRET = "s3cret-" + secrets.token_hex(8)  # generated per run


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class OidcProvider:
    def __init__(self, redirect_uri: str = "") -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid, different key
        self.redirect_uris: set[str] = {redirect_uri} if redirect_uri else set()
        self.user: dict[str, Any] = {"sub": "248289761001", "preferred_username": "alice", "email": "alice@x.test"}
        self.kid = "k1"  # the kid of self.key (tests rotate keys)
        self.fault: str | None = None
        self.codes: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OidcProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- the protocol ---------------------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"]}

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or redirect not in self.redirect_uris:
            return 400, {}, b"unknown client or redirect_uri"
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return 400, {}, b"bad request"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, {}, b"PKCE S256 required"
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"redirect_uri": redirect, "nonce": query.get("nonce"), "user": dict(self.user),
                            "challenge": query["code_challenge"], "at": time.time()}
        target = redirect + "?" + urlencode({"code": code, "state": query.get("state", "")})
        return 302, {"Location": target}, b""

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if authorization != expected:
            return 401, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        verifier = form.get("code_verifier", "")
        if _b64(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        access = secrets.token_urlsafe(24)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "auth_time": now,
                  "nonce": grant["nonce"], **grant["user"],
                  "at_hash": _b64(hashlib.sha256(access.encode()).digest()[:16])}
        key = self.key
        if self.fault == "wrong_nonce":
            claims["nonce"] = secrets.token_urlsafe(16)
        elif self.fault == "expired":
            claims.update(iat=now - 3600, exp=now - 1800)
        elif self.fault == "wrong_audience":
            claims["aud"] = "somebody-else"
        elif self.fault == "wrong_issuer":
            claims["iss"] = "http://127.0.0.1:1"
        elif self.fault == "bad_signature":
            key = self.other_key
        id_token = jwt.encode({"alg": "RS256", "kid": self.kid, "typ": "JWT"}, claims, key)
        return 200, {"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}

    # --- HTTP -----------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
                      content_type: str = "application/json") -> None:
                self.send_response(status)
                for name, value in {"Content-Type": content_type, "Cache-Control": "no-store",
                                    **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/.well-known/openid-configuration":
                    self._send(200, json.dumps(provider.discovery()).encode())
                elif parts.path == "/jwks":
                    self._send(200, json.dumps({"keys": [provider.key.as_dict(private=False)]}).encode())
                elif parts.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    status, headers, body = provider.authorize(query)
                    self._send(status, body, headers, "text/plain")
                else:
                    self._send(404, b"{}")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path != "/token":
                    self._send(404, b"{}")
                    return
                status, body = provider.token(form, self.headers.get("Authorization", ""))
                self._send(status, json.dumps(body).encode())

        return Handler
