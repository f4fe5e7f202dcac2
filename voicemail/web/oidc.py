"""OIDC sign-in: ``GET /signin/oidc`` (to the identity provider) and ``GET /signin/oidc/callback``.

Per sign-in: a random ``state`` (single use, ten minutes), ``nonce`` and PKCE ``code_verifier`` are kept
server-side in ``oidc_pending`` (only a SHA-256 of the state), bound to the browser by a random
HttpOnly cookie (``vm_oidc``, path /signin/oidc) whose hash must match at the callback — a callback URL
sent to somebody else is refused (login CSRF). The callback exchanges the code (with the verifier),
checks the ID token (oidc_client), maps ``oidc_account_claim`` to exactly one enabled account
(signin_identities, key ``<issuer> <value>``), then establish_session. Every refusal is audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine

from voicemail.web.errors import error_response
from voicemail.web.oidc_client import OidcClient, OidcError
from voicemail.web.sessions import audit, client_address, establish_session, web_deps
from voicemail.web.signin import THROTTLED
from voicemail.web.signin_identities import IdentityStore, oidc_key, oidc_pending

COOKIE = "vm_oidc"
COOKIE_PATH = "/signin/oidc"
PENDING_SECONDS = 600.0
STATE_INVALID = "This sign-in link is not valid any more (it was used, has expired or was opened in another " \
                "browser). Start the sign-in again."
DENIED_BY_PROVIDER = "The identity provider did not sign you in."
UNMAPPED = "Your identity provider account is not linked to an account here. Ask an administrator to link it."
DISABLED = "The account linked to your identity provider account is disabled."


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Pending:
    nonce: str
    code_verifier: str


class PendingStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def put(self, state: str, browser: str, nonce: str, code_verifier: str, now: float) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(oidc_pending).where(oidc_pending.c.expires_at < now))
            conn.execute(insert(oidc_pending).values(state_hash=_sha(state), browser_hash=_sha(browser), nonce=nonce,
                                                     code_verifier=code_verifier, expires_at=now + PENDING_SECONDS))

    def take(self, state: str, browser: str, now: float) -> Pending | None:
        """The sign-in this state belongs to, removed (single use); None if unknown, expired or another browser."""
        with self._engine.begin() as conn:
            row = conn.execute(delete(oidc_pending).where(oidc_pending.c.state_hash == _sha(state))
                               .returning(oidc_pending.c.browser_hash, oidc_pending.c.nonce,
                                          oidc_pending.c.code_verifier, oidc_pending.c.expires_at)).first()
        if row is None or row.expires_at < now or not secrets.compare_digest(row.browser_hash, _sha(browser)):
            return None
        return Pending(row.nonce, row.code_verifier)


class OidcSignin:
    def __init__(self, client: OidcClient, identities: IdentityStore, pending: PendingStore,
                 account_claim: str) -> None:
        self.client = client
        self.identities = identities
        self.pending = pending
        self.claim = account_claim

    def _refuse(self, request: Request, status: int, message: str, reason: str, actor: str = "(unknown)") -> Response:
        audit(request, actor, "signin", "denied", reason=reason[:300], method="oidc", issuer=self.client.issuer)
        response = error_response(request, status, message)
        self._clear(request, response)
        return response

    @staticmethod
    def _clear(request: Request, response: Response) -> None:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True,
                               secure=web_deps(request).settings.cookie_secure, samesite="lax")

    def _throttled(self, request: Request) -> Response | None:
        """Both legs count against the per-address sign-in rate limit, like password attempts."""
        if web_deps(request).limiter.hit(client_address(request)):
            return None
        return self._refuse(request, 429, THROTTLED, "rate limited")

    async def begin(self, request: Request) -> Response:
        if (throttled := self._throttled(request)) is not None:
            return throttled
        state, nonce, browser = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters (RFC 7636: 43 to 128)
        try:
            url = await self.client.authorization_url(state, nonce, verifier)
        except OidcError as exc:
            return self._refuse(request, 503, exc.message, f"{exc.code}: {exc.detail}")
        self.pending.put(state, browser, nonce, verifier, web_deps(request).clock())
        response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
        # SameSite=Lax: the provider's redirect back is a top-level GET navigation, which carries it.
        response.set_cookie(COOKIE, browser, max_age=int(PENDING_SECONDS), path=COOKIE_PATH, httponly=True,
                            secure=web_deps(request).settings.cookie_secure, samesite="lax")
        return response

    async def callback(self, request: Request) -> Response:
        if (throttled := self._throttled(request)) is not None:
            return throttled
        params = request.query_params
        if params.get("error"):
            return self._refuse(request, 403, DENIED_BY_PROVIDER, f"provider: {params.get('error', '')[:80]}")
        state, code = params.get("state", ""), params.get("code", "")
        pending = (self.pending.take(state, request.cookies.get(COOKIE, ""), web_deps(request).clock())
                   if state else None)
        if pending is None or not code:
            return self._refuse(request, 400, STATE_INVALID, "state: unknown, used, expired or other browser")
        try:
            token = await self.client.exchange(code, pending.code_verifier)
            claims = await self.client.id_token_claims(token, pending.nonce)
        except OidcError as exc:
            return self._refuse(request, 502 if exc.code in ("provider", "token") else 403, exc.message,
                                f"{exc.code}: {exc.detail}")
        value = claims.get(self.claim)
        actor = f"oidc:{str(claims.get('sub', ''))[:150]}"
        if not isinstance(value, str) or not value:
            return self._refuse(request, 403, UNMAPPED, f"unmapped: id_token has no {self.claim}", actor)
        accounts = self.identities.accounts_for("oidc", [oidc_key(self.client.issuer, value)])
        if len(accounts) != 1:
            return self._refuse(request, 403, UNMAPPED, "unmapped" if not accounts else "ambiguous", actor)
        account = web_deps(request).accounts.by_id(next(iter(accounts)))
        if account is None or account.disabled:
            return self._refuse(request, 403, DISABLED, "disabled", account.username if account else actor)
        response = RedirectResponse("/", status_code=303)
        establish_session(request, response, account.id, "oidc")
        self._clear(request, response)
        return response


def oidc_router(oidc: OidcSignin) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/signin/oidc")
    async def signin_oidc(request: Request) -> Response:
        return await oidc.begin(request)

    @router.get("/signin/oidc/callback")
    async def signin_oidc_callback(request: Request) -> Response:
        return await oidc.callback(request)

    return router
