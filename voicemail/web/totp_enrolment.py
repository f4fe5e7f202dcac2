"""A person enrols their own second factor (TOTP) on the settings page, instead of an administrator
printing the secret: after they confirm their current password, a new secret is shown (QR code and
otpauth:// URI); it takes effect only when a code from the app confirms it.

Nothing is stored until then: the page's form carries the new secret wrapped by the keyring (AES-GCM)
under a context bound to the account, to this session and to the moment the password was confirmed, so
the token is worthless anywhere else, cannot be altered, and expires after MAX_AGE seconds. A token is
only ever made after the password was checked, so holding one proves it. On confirmation it is
re-wrapped under the account's TOTP context and stored, with the confirming code's time step as used
(that code cannot also sign in)."""

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
MAX_AGE = 600  # seconds from the password's confirmation to the code's


@dataclass(frozen=True)
class Enrolment:
    uri: str  # otpauth://totp/Voicemail:name?secret=...&issuer=Voicemail
    secret: str  # the same secret in base32, for typing into an app that cannot scan
    qr_svg: str  # an inline <svg> of the URI
    token: str  # the pending secret, wrapped; goes back with the confirming code


def _pending_context(account_id: int, session_hash: str, issued: int) -> bytes:
    return f"web-totp-pending/account/{account_id}/session/{session_hash}/issued/{issued}".encode()


def _shown(key: bytes, username: str, token: str) -> Enrolment:
    uri = totp.provisioning_uri(key, username)
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff",
                                                 title="QR code to scan with your authenticator app")
    return Enrolment(uri=uri, secret=totp.secret_of(key), qr_svg=svg, token=token)


def start(keyring: Keyring, account_id: int, username: str, session_hash: str, now: float) -> Enrolment:
    """A new secret; call only once the current password has been confirmed (``now``: that moment)."""
    key, issued = totp.new_key(), int(now)
    wrapped = keyring.wrap(key, _pending_context(account_id, session_hash, issued))
    token = f"{wrapped.kek_id}.{base64.urlsafe_b64encode(wrapped.blob).decode('ascii')}.{issued}"
    return _shown(key, username, token)


def again(keyring: Keyring, account_id: int, username: str, session_hash: str, token: str,
          now: float) -> Enrolment:
    """The same pending secret shown again (after a wrong code), with the same token."""
    return _shown(pending_key(keyring, account_id, session_hash, token, now), username, token)


def pending_key(keyring: Keyring, account_id: int, session_hash: str, token: str, now: float) -> bytes:
    """The secret the form carries; InvalidInput when the token is not one this session was given, or the
    password was confirmed more than MAX_AGE seconds ago."""
    kek_id, _, rest = (token or "").partition(".")
    blob, _, issued_text = rest.rpartition(".")
    try:
        if not kek_id or not blob or len(token) > MAX_TOKEN or not issued_text.isdigit() or len(issued_text) > 12:
            raise ValueError
        issued = int(issued_text)
        if not 0 <= now - issued <= MAX_AGE:
            raise ValueError
        raw = base64.urlsafe_b64decode(blob.encode("ascii"))
        return keyring.unwrap(WrappedKey(kek_id=kek_id, blob=raw), _pending_context(account_id, session_hash, issued))
    except (ValueError, binascii.Error, UnicodeEncodeError, KeyringError, IntegrityError):
        raise InvalidInput("This set-up page has expired. Confirm your password again to get a new code.") from None
