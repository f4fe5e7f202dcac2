"""The Ed25519 signing key of the audit trail and the evidence packages (a 0600 PEM file)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from voicemail.domain.errors import InvalidInput, KeyringError


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise InvalidInput(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("the public key is not an Ed25519 key")
    return key


def verify_signature(public: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public.verify(signature, data)
    except InvalidSignature:
        return False
    return True


class SigningKey:
    """An Ed25519 private key loaded from its file; signs checkpoints and manifests."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def public_pem(self) -> bytes:
        return public_pem(self.public)

    @classmethod
    def create(cls, path: Path) -> SigningKey:
        """Write a new key to ``path`` (0600, never overwriting)."""
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            raise KeyringError(f"a signing key already exists at {path}; refusing to overwrite it") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        return cls(private)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise KeyringError(f"no signing key at {path}: create one with `voicemail keys init-signing`") from None
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise KeyringError(f"signing key {path} is readable by group or others (chmod 600 it)")
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise KeyringError(f"signing key {path} is unreadable: {exc}") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyringError(f"signing key {path} is not an Ed25519 key")
        return cls(private)
