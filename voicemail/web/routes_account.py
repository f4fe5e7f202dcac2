"""The signed-in person's own second factor, in three steps: ``GET /settings/two-step`` asks for the current
password; ``POST /settings/two-step/start`` checks it and only then shows a new TOTP secret (QR code,
otpauth:// URI, the key to type); ``POST /settings/two-step`` turns it on when a code from the app confirms
it. Audited as ``totp.enrol``."""

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


def _password_page(request: Request, error: str = "", status: int = 200) -> Response:
    return render(request, "two_step.html", {"active": "settings", "enrolment": None, "error": error,
                                             "notice": ""}, status=status)


def _secret_page(request: Request, enrolment: totp_enrolment.Enrolment, error: str = "",
                 status: int = 200) -> Response:
    return render(request, "two_step.html", {"active": "settings", "enrolment": enrolment, "error": error,
                                             "notice": ""}, status=status)


@router.get("/settings/two-step")
def two_step_form(request: Request) -> Response:
    require(request)
    return _password_page(request)


@router.post("/settings/two-step/start")
def two_step_start(request: Request, current_password: str = Form("", max_length=1024)) -> Response:
    """The current password first: a wrong one counts towards the lockout and shows no secret."""
    authed = require(request)
    deps = web_deps(request)
    account, s = authed.account, deps.settings
    if not verify_password(account.password_hash, current_password or ""):
        audit(request, account.username, "totp.enrol", "denied", reason="wrong current password")
        if deps.accounts.record_failure(account.id, s.lockout_threshold, s.lockout_minutes * 60):
            audit(request, account.username, "lockout", "ok", reason=f"{s.lockout_threshold} failed sign-ins",
                  minutes=s.lockout_minutes)
        return _password_page(request, error="Your current password is not right.", status=400)
    enrolment = totp_enrolment.start(deps.accounts.pending_totp_keyring(), account.id, account.username,
                                     authed.session.id_hash, deps.clock())
    return _secret_page(request, enrolment)


@router.post("/settings/two-step")
def two_step_confirm(request: Request, token: str = Form("", max_length=totp_enrolment.MAX_TOKEN),
                     code: str = Form("", max_length=16)) -> Response:
    authed = require(request)
    deps = web_deps(request)
    account, keyring, now = authed.account, deps.accounts.pending_totp_keyring(), deps.clock()
    try:
        key = totp_enrolment.pending_key(keyring, account.id, authed.session.id_hash, token, now)
    except InvalidInput as exc:  # another session's, altered or too old: back to the password
        audit(request, account.username, "totp.enrol", "denied", reason="set-up page expired or not this session's")
        return _password_page(request, error=str(exc), status=400)
    if not deps.accounts.confirm_totp(account.id, key, code):
        audit(request, account.username, "totp.enrol", "denied", reason="wrong code")
        enrolment = totp_enrolment.again(keyring, account.id, account.username, authed.session.id_hash, token, now)
        return _secret_page(request, enrolment, status=400,
                            error="That code is not the one your app shows now. Type the code it shows now.")
    audit(request, account.username, "totp.enrol", "ok", replaced=account.totp_enabled)
    return RedirectResponse("/settings?n=totp", status_code=303, headers={"Cache-Control": "no-store"})
