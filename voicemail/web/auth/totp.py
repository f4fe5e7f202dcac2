"""TOTP (RFC 6238) second factor. The secret is stored only wrapped by the keyring (AES-GCM under the
current KEK, bound to the account id), never in plaintext."""

from __future__ import annotations

import base64
import secrets
import time

import pyotp

from voicemail.vault.sealed_stream import DATA_KEY_BYTES

ISSUER = "Voicemail"
SECRET_BYTES = 20  # 160 bits, what authenticator apps expect for SHA-1 TOTP


def context_for(account_id: int) -> bytes:
    return f"web-totp/account/{account_id}".encode()


def new_key() -> bytes:
    """Random key material in the keyring's wrap size; the TOTP secret is its first 20 bytes."""
    return secrets.token_bytes(DATA_KEY_BYTES)


def secret_of(key: bytes) -> str:
    return base64.b32encode(key[:SECRET_BYTES]).decode("ascii")


def provisioning_uri(key: bytes, username: str) -> str:
    return pyotp.TOTP(secret_of(key)).provisioning_uri(name=username, issuer_name=ISSUER)


def matching_step(key: bytes, code: str, at: float | None = None, after_step: int | None = None) -> int | None:
    """The time step (30 s) whose code equals ``code``, allowing one step of clock drift either way, or
    None. A step at or before ``after_step`` (the last one accepted) is refused: no replay of a code."""
    code = (code or "").strip().replace(" ", "")
    if not (len(code) == 6 and code.isascii() and code.isdigit()):  # "١٢٣٤٥٦".isdigit() is True too
        return None
    totp = pyotp.TOTP(secret_of(key))
    now = time.time() if at is None else at
    step = int(now // totp.interval)
    for candidate in (step - 1, step, step + 1):
        if after_step is not None and candidate <= after_step:
            continue
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def current_code(key: bytes, at: float | None = None) -> str:
    """For tests and the CLI's self-check."""
    totp = pyotp.TOTP(secret_of(key))
    return totp.at(at) if at is not None else totp.now()
