"""The signed-in person's own second factor: ``GET /settings/two-step`` shows a new TOTP secret once
(QR code, otpauth:// URI, the key to type), ``POST /settings/two-step`` turns it on when the current
password and a code from the app confirm it. Audited as ``totp.enrol``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from voicemail.domain.errors import InvalidInput
from voicemail.web import totp_enrolment
from voicemail.web.auth.passwords import verify_password
from voicemail.web.csrf import csrf_protect
from voicemail.web.render import render
from voicemail.web.sessions import audit, require, web_deps

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _page(request: Request, error: str = "", status: int = 200) -> Response:
    authed = require(request)
    keyring = web_deps(request).accounts.pending_totp_keyring()
    enrolment = totp_enrolment.start(keyring, authed.account.id, authed.account.username, authed.session.id_hash)
    return render(request, "two_step.html", {"active": "settings", "enrolment": enrolment, "error": error,
                                             "notice": ""}, status=status)


@router.get("/settings/two-step")
def two_step_form(request: Request) -> Response:
    return _page(request)


@router.post("/settings/two-step")
def two_step_confirm(request: Request, token: str = Form("", max_length=totp_enrolment.MAX_TOKEN),
                     code: str = Form("", max_length=16), current_password: str = Form("", max_length=1024)
                     ) -> Response:
    authed = require(request)
    deps = web_deps(request)
    account, s = authed.account, deps.settings
    try:
        key = totp_enrolment.pending_key(deps.accounts.pending_totp_keyring(), account.id, authed.session.id_hash,
                                         token)
        if not verify_password(account.password_hash, current_password or ""):
            audit(request, account.username, "totp.enrol", "denied", reason="wrong current password")
            if deps.accounts.record_failure(account.id, s.lockout_threshold, s.lockout_minutes * 60):
                audit(request, account.username, "lockout", "ok", reason=f"{s.lockout_threshold} failed sign-ins",
                      minutes=s.lockout_minutes)
            raise InvalidInput("Your current password is not right. Scan the new code below and try again.")
        if not deps.accounts.confirm_totp(account.id, key, code):
            audit(request, account.username, "totp.enrol", "denied", reason="wrong code")
            raise InvalidInput("That code is not the one your app shows now. Scan the new code below and try again.")
    except InvalidInput as exc:
        return _page(request, error=str(exc), status=400)
    audit(request, account.username, "totp.enrol", "ok", replaced=account.totp_enabled)
    return RedirectResponse("/settings?n=totp", status_code=303, headers={"Cache-Control": "no-store"})
