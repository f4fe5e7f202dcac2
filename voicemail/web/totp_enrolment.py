"""A person enrols their own second factor (TOTP) on the settings page, instead of an administrator
printing the secret: a new secret is shown once (QR code and otpauth:// URI) and takes effect only when a
code from the app confirms it, together with the current password.

Nothing is stored until then: the page's form carries the new secret wrapped by the keyring (AES-GCM)
under a context bound to the account and to this session, so the token is worthless anywhere else and
cannot be altered. On confirmation it is re-wrapped under the account's TOTP context and stored, with the
confirming code's time step as used (that code cannot also sign in)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import segno

from voicemail.domain.errors import IntegrityError, InvalidInput, KeyringError
from voicemail.domain.models import WrappedKey
from voicemail.domain.ports import Keyring
from voicemail.web.auth import totp

MAX_TOKEN = 400


@dataclass(frozen=True)
class Enrolment:
    uri: str  # otpauth://totp/Voicemail:name?secret=...&issuer=Voicemail
    secret: str  # the same secret in base32, for typing into an app that cannot scan
    qr_svg: str  # an inline <svg> of the URI
    token: str  # the pending secret, wrapped; goes back with the confirming code


def _pending_context(account_id: int, session_hash: str) -> bytes:
    return f"web-totp-pending/account/{account_id}/session/{session_hash}".encode()


def start(keyring: Keyring, account_id: int, username: str, session_hash: str) -> Enrolment:
    key = totp.new_key()
    wrapped = keyring.wrap(key, _pending_context(account_id, session_hash))
    token = wrapped.kek_id + "." + base64.urlsafe_b64encode(wrapped.blob).decode("ascii")
    uri = totp.provisioning_uri(key, username)
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff",
                                                 title="QR code to scan with your authenticator app")
    return Enrolment(uri=uri, secret=totp.secret_of(key), qr_svg=svg, token=token)


def pending_key(keyring: Keyring, account_id: int, session_hash: str, token: str) -> bytes:
    """The secret the form carries; InvalidInput when the token is not one this session was given."""
    kek_id, _, blob = (token or "").partition(".")
    try:
        if not kek_id or not blob or len(token) > MAX_TOKEN:
            raise ValueError
        raw = base64.urlsafe_b64decode(blob.encode("ascii"))
        return keyring.unwrap(WrappedKey(kek_id=kek_id, blob=raw), _pending_context(account_id, session_hash))
    except (ValueError, binascii.Error, UnicodeEncodeError, KeyringError, IntegrityError):
        raise InvalidInput("This set-up page has expired. Start again and scan the new code.") from None
