"""Bearer tokens of the Outlook add-in: the task pane runs in an iframe inside Outlook, where our session
cookie is a third-party cookie (often blocked), so it authenticates with ``Authorization: Bearer <token>``.

A token is a server-side session row (only its SHA-256 is stored, like a cookie's) whose method starts with
``bearer-`` (``bearer-dialog``: issued to a signed-in browser session in the sign-in dialog; ``bearer-sso``:
exchanged for a verified Office SSO access token). It is scoped: accepted only in the Authorization header
and only on the REST API (/api/v1); a session cookie carrying a token's value is refused, and a bearer token
is never accepted as a cookie. It expires ``outlook_token_seconds`` after it was issued (and after the
session idle time without use). Issuing is audited (``token.issue``). A bearer request needs no CSRF token:
the browser never attaches the header by itself.
"""

from __future__ import annotations

from fastapi import Request

from voicemail.web.accounts_store import Account
from voicemail.web.sessions_store import SessionInfo

PREFIX = "bearer-"
SCOPE_PREFIX = "/api/v1/"


def bearer_value(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None when there is no such header."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def is_bearer(info: SessionInfo) -> bool:
    return info.method.startswith(PREFIX)


def in_scope(request: Request) -> bool:
    return request.url.path.startswith(SCOPE_PREFIX)


def live(info: SessionInfo, now: float, lifetime: float) -> bool:
    return is_bearer(info) and now - info.created_at <= lifetime


def issue(request: Request, account: Account, how: str) -> tuple[str, float]:
    """A new token for ``account`` (``how``: dialog or sso): (token, seconds it lives). Audited."""
    from voicemail.web.sessions import audit, client_address, web_deps

    deps = web_deps(request)
    raw, _info = deps.sessions.create(account.id, PREFIX + how, client_address(request))
    lifetime = deps.settings.outlook_token_seconds
    audit(request, account.username, "token.issue", "ok", method=how, scope="api", expires_in=int(lifetime))
    return raw, lifetime
