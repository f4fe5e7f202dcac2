"""The Outlook add-in's pages and token routes (ViewMail for Outlook).

- ``GET /outlook/taskpane``: the task pane Outlook frames beside a notification e-mail. The only page that
  may be framed, and only by ``outlook_frame_ancestors`` (CSP frame-ancestors); it loads Office.js from
  Microsoft's CDN and our static files, and plays audio it fetched into a blob: URL.
- ``GET /outlook/dialog``: the sign-in dialog (Office.context.ui.displayDialogAsync), a top-level window on
  our origin: the normal password sign-in (POST /api/v1/session), then a bearer token handed to the pane
  with Office.context.ui.messageParent. Never framed; its opener (Outlook) is kept (COOP unsafe-none),
  which messageParent needs.
- ``POST /api/v1/outlook/token``: a bearer token for the signed-in browser session (cookie + CSRF token).
- ``POST /api/v1/outlook/sso``: a bearer token for an Office SSO access token, verified like our OIDC
  sign-in verifies an ID token (issuer, audience, signature against the provider's JWKS) and mapped to an
  account the same way (``oidc_account_claim``, `voicemail accounts map-oidc`).
- ``GET /api/v1/notifications/{id}/message``: the message a notification e-mail's X-Voicemail-Id names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from voicemail.web import authz, bearer
from voicemail.web.csrf import csrf_protect
from voicemail.web.errors import error_response
from voicemail.web.oidc_client import OidcClient, OidcError
from voicemail.web.render import HERE
from voicemail.web.routes_api import message_json
from voicemail.web.sessions import SignInRequired, audit, client_address, require, web_deps
from voicemail.web.signin import THROTTLED
from voicemail.web.signin_identities import IdentityStore, oidc_key

OFFICE_JS = "https://appsforoffice.microsoft.com"
STATIC = HERE / "static" / "outlook"
NOT_LINKED = "Your Microsoft 365 account is not linked to an account here. Sign in with the dialog instead."


def pane_csp(frame_ancestors: tuple[str, ...]) -> str:
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    return (f"default-src 'self'; script-src 'self' {OFFICE_JS}; style-src 'self'; img-src 'self'; "
            f"media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            f"form-action 'self'; frame-ancestors {ancestors}")


def _page(name: str, csp: str, **headers: str) -> HTMLResponse:
    body = (STATIC / name).read_text(encoding="utf-8")
    return HTMLResponse(body, headers={"Content-Security-Policy": csp, "Cache-Control": "no-store", **headers})


@dataclass(frozen=True)
class SsoExchange:
    """Office SSO: the provider's client, the audience of the add-in's access tokens, the account claim."""

    client: OidcClient
    audience: str
    account_claim: str
    identities: IdentityStore


class SsoBody(BaseModel):
    access_token: str = Field(min_length=1, max_length=16384)


def _token_json(token: str, lifetime: float) -> dict[str, Any]:
    return {"token": token, "token_type": "Bearer", "expires_in": int(lifetime)}


def outlook_router(sso: SsoExchange | None) -> APIRouter:
    router = APIRouter()
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(csrf_protect)], tags=["outlook"])

    @router.get("/outlook/taskpane", include_in_schema=False)
    def taskpane(request: Request) -> Response:
        # COOP is ignored for a framed page; unsafe-none keeps the dialog it opens connected when the pane is a
        # window of its own (the new Outlook's pop-out, the tests)
        return _page("taskpane.html", pane_csp(web_deps(request).settings.outlook_frame_ancestors),
                     **{"Cross-Origin-Opener-Policy": "unsafe-none"})

    @router.get("/outlook/dialog", include_in_schema=False)
    def dialog(request: Request) -> Response:
        return _page("dialog.html", pane_csp(()), **{"Cross-Origin-Opener-Policy": "unsafe-none"})

    @api.post("/outlook/token")
    def token_for_session(request: Request) -> dict[str, Any]:
        """A bearer token for the add-in, for the browser session signed in here (never for a bearer token:
        a token cannot renew itself)."""
        authed = require(request)
        if bearer.is_bearer(authed.session):
            audit(request, authed.account.username, "token.issue", "denied", reason="token from a token")
            raise SignInRequired()
        token, lifetime = bearer.issue(request, authed.account, "dialog")
        return _token_json(token, lifetime)

    # No CSRF token here: the pane has no cookie (third-party inside Outlook) and the credential is the body
    # itself; nothing ambient is used and the answer sets no cookie, so a forged request gains nothing.
    @router.post("/api/v1/outlook/sso", response_model=None, tags=["outlook"])
    async def token_for_sso(body: SsoBody, request: Request) -> Response | dict[str, Any]:
        """A bearer token for an Office SSO access token (404 when SSO is not set up on this site)."""
        if sso is None:
            return error_response(request, 404, "Office single sign-on is not set up on this site.")
        if not web_deps(request).limiter.hit(client_address(request)):  # counted like sign-in attempts
            audit(request, "(unknown)", "token.issue", "denied", reason="rate limited", method="sso")
            return error_response(request, 429, THROTTLED)
        try:
            claims = await sso.client.access_token_claims(body.access_token, sso.audience)
        except OidcError as exc:
            audit(request, "(unknown)", "token.issue", "denied", reason=f"{exc.code}: {exc.detail}"[:300],
                  method="sso")
            return error_response(request, 401, exc.message)
        value = claims.get(sso.account_claim)
        actor = f"oidc:{str(claims.get('sub', ''))[:150]}"
        accounts = (sso.identities.accounts_for("oidc", [oidc_key(sso.client.issuer, value)])
                    if isinstance(value, str) and value else set())
        account = web_deps(request).accounts.by_id(next(iter(accounts))) if len(accounts) == 1 else None
        if account is None or account.disabled:
            audit(request, actor, "token.issue", "denied", reason="unmapped or disabled", method="sso")
            return error_response(request, 403, NOT_LINKED)
        token, lifetime = bearer.issue(request, account, "sso")
        return _token_json(token, lifetime)

    @api.get("/notifications/{notification_id}/message")
    def notification_message(request: Request, notification_id: str) -> dict[str, Any]:
        """The message a notification e-mail was sent for (its X-Voicemail-Id header), as GET /messages/{id}."""
        viewer = authz.viewer(request)
        nid = authz.message_id(notification_id)  # notification ids are UUIDs too
        store = web_deps(request).messages
        found = store.message_of_notification(nid) if store is not None else None
        if found is None:
            raise authz.refuse(request, viewer, "message.view", "no such notification", notification=nid)
        return message_json(request, web_deps(request).mailbox.message(viewer, found))

    router.include_router(api)
    return router
