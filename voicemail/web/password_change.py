"""Changing one's own password on the settings page: the current password first (a wrong one counts
towards the sign-in lockout like a failed sign-in), the new one twice, argon2id; every other session of
the account is ended and this browser gets a fresh session. Audited as ``password.change``."""

from __future__ import annotations

from fastapi import Request, Response

from voicemail.domain.errors import InvalidInput
from voicemail.web.auth.passwords import MAX_LENGTH, MIN_LENGTH, verify_password
from voicemail.web.sessions import audit, establish_session, require, web_deps


def change_password(request: Request, response: Response, current: str, new: str, again: str) -> int:
    """Returns how many sessions were ended (this one included; this browser is signed in again).
    InvalidInput, with a sentence for the person, when anything is wrong; nothing is changed then."""
    deps = web_deps(request)
    account = require(request).account
    s = deps.settings
    if not verify_password(account.password_hash, current or ""):
        audit(request, account.username, "password.change", "denied", reason="wrong current password")
        if deps.accounts.record_failure(account.id, s.lockout_threshold, s.lockout_minutes * 60):
            audit(request, account.username, "lockout", "ok", reason=f"{s.lockout_threshold} failed sign-ins",
                  minutes=s.lockout_minutes)
        raise InvalidInput("Your current password is not right.")
    if not MIN_LENGTH <= len(new) <= MAX_LENGTH:
        raise InvalidInput(f"The new password must be {MIN_LENGTH} to {MAX_LENGTH} characters long.")
    if new != again:
        raise InvalidInput("The two new passwords are not the same.")
    if new == current:
        raise InvalidInput("The new password must differ from the current one.")
    deps.accounts.set_password(account.id, new)
    ended = deps.sessions.destroy_account(account.id)
    audit(request, account.username, "password.change", "ok", sessions_ended=ended)
    establish_session(request, response, account.id, require(request).session.method or "password")
    return ended
