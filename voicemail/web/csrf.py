"""CSRF protection for every state-changing request (POST, PUT, PATCH, DELETE).

Two checks, both required:
1. same origin: when the browser sends ``Origin`` (else ``Referer``), it must be this site (the request's
   own origin, web_base_url's, or one of web_allowed_origins). A request carrying neither header (a
   non-browser client) goes on to the token check.
2. synchronizer token: ``X-CSRF-Token`` header or ``csrf_token`` form field equal to the token of the
   session. A request that comes with a live signed-in session is checked against that session's token
   only; the token of a pre-sign-in session (the sign-in form's) counts only when there is none, so a
   pre-sign-in cookie and token planted in a signed-in browser do not pass. A request authenticated by
   the Outlook add-in's bearer token (voicemail.web.bearer) needs no token: nothing sends it ambiently.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import Request

from voicemail.web import bearer
from voicemail.web.sessions import current, presignin_token, web_deps

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEADER = "x-csrf-token"
FIELD = "csrf_token"


class CsrfRefused(Exception):
    """The request failed the origin or token check; nothing was done."""


def origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def allowed_origins(request: Request) -> set[str]:
    s = web_deps(request).settings
    candidates = [str(request.base_url), s.base_url, *s.allowed_origins]
    return {o for o in (origin_of(c) for c in candidates) if o}


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return True
        origin = referer
    found = origin_of(origin)
    return found is not None and found in allowed_origins(request)


async def submitted_token(request: Request) -> str | None:
    token = request.headers.get(HEADER)
    if token:
        return token
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(FIELD)
        return value if isinstance(value, str) else None
    return None


def _matches(token: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(token.encode(), expected.encode())


async def csrf_protect(request: Request) -> None:
    """Router dependency: refuses an unsafe request that fails either check."""
    if request.method not in UNSAFE:
        return
    if not same_origin(request):
        raise CsrfRefused("cross-origin request refused")
    authed = current(request)
    if authed is not None and bearer.is_bearer(authed.session):
        return  # a header the browser never sends by itself: no ambient credential to forge with
    token = await submitted_token(request)
    if not token or len(token) > 128:
        raise CsrfRefused("missing CSRF token")
    if authed is not None:
        if _matches(token, authed.session.csrf_token):
            return
        raise CsrfRefused("wrong CSRF token")
    if _matches(token, presignin_token(request)):
        return
    raise CsrfRefused("wrong CSRF token")
