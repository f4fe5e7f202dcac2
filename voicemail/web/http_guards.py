"""HTTP-level guards of the web app, outside any route.

* ``security_headers``: the headers every answer carries (CSP, nosniff, DENY framing, referrer policy,
  X-Frame-Options DENY unless the route's own CSP names the frame-ancestors allowed (the Outlook task pane),
  no-store, HSTS over HTTPS). Applied by the app's middleware and, for answers built outside it (the
  last-resort 500 handler runs outside the middleware stack, the 413 below runs before it), by whoever
  builds the answer.
* ``RequestGuard`` (pure ASGI middleware):
  - caps the request body at ``max_body_bytes`` *before* anything reads it: a declared Content-Length
    over the cap is answered 413 at once; a body without one is counted as it arrives and refused as
    soon as it passes the cap (nothing beyond cap + one chunk is ever held);
  - answers a GET / HEAD for a path with a trailing slash with a *relative* redirect to the path
    without it (never a URL built from the Host header, never ``//host``).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def security_headers(headers: MutableMapping[str, str] | MutableHeaders, path: str, scheme: str) -> None:
    """Add the security headers that are not already set."""
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""):
        headers.setdefault("X-Frame-Options", "DENY")  # the one page framed (Outlook's task pane) sets its own CSP
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if not path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    if scheme == "https":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "/")
        if scope["method"] in ("GET", "HEAD") and len(path) > 1 and path.endswith("/"):
            location = without_trailing_slash(path, scope.get("query_string", b"").decode("latin-1"))
            await _answer(scope, send, 307, b"", {"location": location})
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _answer(scope, send, 413, b'{"detail":"request body too large"}')
            return
        if declared is None and _may_have_body(scope):
            buffered = await self._read_capped(receive)
            if buffered is None:
                await _answer(scope, send, 413, b'{"detail":"request body too large"}')
                return
            receive = _replay(buffered, receive)
        await self.app(scope, receive, send)

    async def _read_capped(self, receive: Receive) -> list[Message] | None:
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                return messages


def without_trailing_slash(path: str, query: str = "") -> str:
    """A same-site relative URL: one leading slash (``//host`` would leave the site) and no backslash
    (browsers read ``/\\host`` as ``//host``)."""
    location = "/" + path.replace("\\", "%5C").strip("/")
    return location + (f"?{query}" if query else "")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # malformed: the server (h11 / httptools) rejects it before we get here
    return None


def _may_have_body(scope: Scope) -> bool:
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", ()))


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _answer(scope: Scope, send: Send, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
    headers: dict[str, Any] = {"content-type": "application/json", "content-length": str(len(body)), **(extra or {})}
    mutable = MutableHeaders(raw=[(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()])
    security_headers(mutable, scope.get("path", "/"), scope.get("scheme", "http"))
    if status == 413:
        mutable["connection"] = "close"
    await send({"type": "http.response.start", "status": status, "headers": mutable.raw})
    await send({"type": "http.response.body", "body": body})
