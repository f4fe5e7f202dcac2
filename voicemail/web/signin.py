"""Password (+ TOTP) sign-in: rate limit per client address, lockout per account, audit of every
outcome, and one answer for every failure (it never reveals whether the account exists)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from fastapi import Request, Response

from voicemail.web.auth.passwords import verify_password
from voicemail.web.sessions import audit, client_address, establish_session, web_deps

UNKNOWN_ACTOR = "(unknown account)"
FAILED = "Sign-in failed. Check your user name, password and one-time code."
THROTTLED = "Too many sign-in attempts. Wait a few minutes and try again."


@dataclass(frozen=True)
class SigninResult:
    ok: bool
    status: int  # 200, 401 or 429
    message: str

    def headers(self, request: Request) -> dict[str, str]:
        """Retry-After on a throttled attempt: the length of the rate window, when it surely has room."""
        return {"Retry-After": retry_after(request)} if self.status == 429 else {}


def retry_after(request: Request) -> str:
    return str(max(1, math.ceil(web_deps(request).settings.signin_rate_window)))


def password_signin(request: Request, response: Response, username: str, password: str,
                    code: str = "") -> SigninResult:
    deps = web_deps(request)
    s = deps.settings
    username = (username or "").strip()[:200]
    account = deps.accounts.by_username(username)
    if not deps.limiter.hit(client_address(request)):
        _audit_attempt(request, account.username if account else None, username, "rate limited")
        return SigninResult(False, 429, THROTTLED)
    password_ok = verify_password(account.password_hash if account else None, password or "")
    if account is None:
        _audit_attempt(request, None, username, "bad credentials")
        return SigninResult(False, 401, FAILED)
    now = deps.clock()
    if account.disabled or account.locked(now):
        audit(request, account.username, "signin", "denied", reason="disabled" if account.disabled else "locked",
              method="password")
        return SigninResult(False, 401, FAILED)
    second_ok = True
    if password_ok and account.totp_enabled:
        second_ok = deps.accounts.check_totp(account.id, code or "")
    if not (password_ok and second_ok):
        reason = "bad one-time code" if password_ok else "bad credentials"
        audit(request, account.username, "signin", "denied", reason=reason, method="password")
        if deps.accounts.record_failure(account.id, s.lockout_threshold, s.lockout_minutes * 60):
            audit(request, account.username, "lockout", "ok", reason=f"{s.lockout_threshold} failed sign-ins",
                  minutes=s.lockout_minutes)
        return SigninResult(False, 401, FAILED)
    establish_session(request, response, account.id, "password+totp" if account.totp_enabled else "password")
    return SigninResult(True, 200, "")


def _audit_attempt(request: Request, known: str | None, typed: str, reason: str) -> None:
    """A refused attempt. For a name that is no account, only a hash of what was typed is kept: people
    sometimes type their password into the user-name field, and the audit trail is forever."""
    if known is not None:
        audit(request, known, "signin", "denied", reason=reason, method="password")
    else:
        digest = hashlib.sha256(typed.encode("utf-8", "replace")).hexdigest()[:16]
        audit(request, UNKNOWN_ACTOR, "signin", "denied", reason=reason, method="password", username_sha256=digest)
