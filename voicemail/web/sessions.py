"""Sessions over HTTP: the cookie, the signed-in person of a request, sign-in and sign-out.

For the PIV / OIDC sign-in (and any other way of proving who someone is)::

    from voicemail.web.sessions import establish_session, web_deps

    account = web_deps(request).accounts.by_id(account_id)   # AccountStore.by_id -> Account | None
    response = RedirectResponse("/", status_code=303)
    establish_session(request, response, account.id, "piv")   # or "oidc"
    return response                                          # the cookie is set on THIS response

``establish_session(request, response, account_id, method)`` ends whatever session the request came
with (signed-in or pre-sign-in; a cookie planted before sign-in is never adopted), creates a new
session with a fresh random id, sets the session cookie (HttpOnly, SameSite, Secure per settings) on
``response``, clears the account's failed-sign-in count and writes the audit event ``signin`` (outcome
ok, details {"method": method}) with the client address. A disabled or unknown account raises NotFound
and nothing is created. ``client_address(request)`` is the address to audit failures with.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response

from voicemail.audit.chain import AuditEvent
from voicemail.domain.errors import NotFound
from voicemail.web import bearer
from voicemail.web.accounts_store import Account
from voicemail.web.deps import WebDeps
from voicemail.web.sessions_store import SessionInfo

SESSION_COOKIE = "vm_session"
PRESIGNIN_COOKIE = "vm_presignin"


class SignInRequired(Exception):
    """No live session: the API answers 401, pages redirect to the sign-in page."""


class TooManyRequests(Exception):
    """Answered 429."""


@dataclass(frozen=True)
class Authed:
    session: SessionInfo
    account: Account


def web_deps(request: Request) -> WebDeps:
    deps: WebDeps = request.app.state.web
    return deps


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def audit(request: Request, actor: str, action: str, outcome: str = "ok", reason: str = "",
          **details: object) -> None:
    web_deps(request).audit.append(AuditEvent(actor=actor[:200], action=action, outcome=outcome,
                                              source=client_address(request), reason=reason, details=details))


def _set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    s = web_deps(request).settings
    response.set_cookie(name, value, path="/", httponly=True, secure=s.cookie_secure,
                        samesite="strict" if s.cookie_samesite == "strict" else "lax")


def _clear_cookie(request: Request, response: Response, name: str) -> None:
    s = web_deps(request).settings
    response.delete_cookie(name, path="/", httponly=True, secure=s.cookie_secure,
                           samesite="strict" if s.cookie_samesite == "strict" else "lax")


def current(request: Request, *, touch: bool = True) -> Authed | None:
    """The signed-in person of this request (session cookie, or an add-in's bearer token on the REST API:
    voicemail.web.bearer), or None. Looked up once per request. ``touch=False``: this request does not
    keep the session from ending when idle (a page asking for news on its own)."""
    if hasattr(request.state, "authed"):
        cached: Authed | None = request.state.authed
        return cached
    deps = web_deps(request)
    authed = None
    token = bearer.bearer_value(request)
    if token is not None:  # the header decides alone: a cookie sent alongside it is not looked at
        info = deps.sessions.lookup(token, touch=touch) if bearer.in_scope(request) else None
        if info is not None and not bearer.live(info, deps.clock(), deps.settings.outlook_token_seconds):
            info = None
    else:
        info = deps.sessions.lookup(request.cookies.get(SESSION_COOKIE), touch=touch)
        if info is not None and bearer.is_bearer(info):
            info = None
    if info is not None and info.account_id is not None:
        account = deps.accounts.by_id(info.account_id)
        if account is not None and not account.disabled:
            authed = Authed(info, account)
    request.state.authed = authed
    return authed


def require(request: Request) -> Authed:
    authed = current(request)
    if authed is None:
        raise SignInRequired()
    return authed


def presignin(request: Request, response: Response) -> SessionInfo:
    """The pre-sign-in session of this browser (made, with its cookie, when missing). It carries only
    the CSRF token of the sign-in form."""
    deps = web_deps(request)
    info = deps.sessions.lookup(request.cookies.get(PRESIGNIN_COOKIE))
    if info is not None and info.account_id is None:
        return info
    if not deps.presignin_limiter.hit(client_address(request)):
        raise TooManyRequests("too many sign-in forms from this address; wait a few minutes")
    deps.sessions.purge_expired()
    raw, info = deps.sessions.create(None, "presignin", client_address(request))
    _set_cookie(request, response, PRESIGNIN_COOKIE, raw)
    return info


def presignin_token(request: Request) -> str | None:
    info = web_deps(request).sessions.lookup(request.cookies.get(PRESIGNIN_COOKIE))
    return info.csrf_token if info is not None and info.account_id is None else None


def establish_session(request: Request, response: Response, account_id: int, method: str) -> None:
    deps = web_deps(request)
    account = deps.accounts.by_id(account_id)
    if account is None or account.disabled:
        raise NotFound("no such account")
    deps.sessions.destroy(request.cookies.get(SESSION_COOKIE))
    deps.sessions.destroy(request.cookies.get(PRESIGNIN_COOKIE))
    raw, info = deps.sessions.create(account.id, method, client_address(request))
    _set_cookie(request, response, SESSION_COOKIE, raw)
    _clear_cookie(request, response, PRESIGNIN_COOKIE)
    deps.accounts.record_success(account.id)
    request.state.authed = Authed(info, account)
    audit(request, account.username, "signin", "ok", method=method)


def end_session(request: Request, response: Response) -> None:
    """Sign-out: the server-side session is destroyed (the cookie alone is worth nothing afterwards)."""
    authed = current(request)
    if authed is not None and bearer.is_bearer(authed.session):  # the add-in's token: end that token only
        web_deps(request).sessions.destroy_hash(authed.session.id_hash)
        request.state.authed = None
        audit(request, authed.account.username, "signout", "ok", method=authed.session.method)
        return
    web_deps(request).sessions.destroy(request.cookies.get(SESSION_COOKIE))
    _clear_cookie(request, response, SESSION_COOKIE)
    request.state.authed = None
    if authed is not None:
        audit(request, authed.account.username, "signout", "ok", method=authed.session.method)
