"""Password hashing with argon2id (argon2-cffi), constant work whether or not the account exists."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from voicemail.domain.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 1024

# argon2id with the library defaults (RFC 9106 "second recommended" profile: t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()
# Verified against when the account does not exist, so that timing does not reveal existence.
_DUMMY = _hasher.hash("voicemail-dummy-password-for-timing")


def check_new_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInput(f"a password must be {MIN_LENGTH} to {MAX_LENGTH} characters long")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_new_password(password))


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored`` (an argon2 hash). ``stored`` None burns the same time."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        _hasher.verify(stored or _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return stored is not None


def needs_rehash(stored: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return False
