"""The local keyring: key-encryption keys (KEKs) in a 0600 JSON file (implements ``ports.Keyring``).

File format (version 1)::

    {"format": "voicemail-keyring", "version": 1, "current": "<kek id>",
     "keys": {"<kek id>": "<base64 of 32 random bytes>", ...}}

``wrap`` encrypts a data key (DEK) under the current KEK with AES-256-GCM and a random 12-byte nonce;
the associated data binds the KEK id and the caller's ``context`` (e.g. the message id). The wrapped
blob is ``0x01 | nonce (12) | ciphertext+tag (48)``.

Errors: a wrapped key that fails authentication (moved to another message, edited, or wrapped under a
different key with the same id) raises ``IntegrityError``, like a sealed blob that fails. Anything wrong
with the keyring itself (missing, unsafe permissions, unreadable, unknown KEK id) raises
``KeyringError`` naming the file. Key material never appears in messages or ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import re
import secrets
import stat
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voicemail.domain.errors import IntegrityError, InvalidInput, KeyringError
from voicemail.domain.models import WrappedKey
from voicemail.vault.private_files import (
    FILE_MODE,
    ensure_private_dir,
    private_temp_file,
    publish_new,
    publish_replace,
)
from voicemail.vault.sealed_stream import DATA_KEY_BYTES

FORMAT = "voicemail-keyring"
VERSION = 1
KEK_BYTES = 32
MAX_FILE_BYTES = 1 << 20
_WRAP_VERSION = b"\x01"
_NONCE_BYTES = 12
_WRAPPED_BYTES = 1 + _NONCE_BYTES + DATA_KEY_BYTES + 16
_AAD_LABEL = b"voicemail/dek-wrap/v1\x00"
_KEK_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def new_kek_id() -> str:
    return f"kek-{secrets.token_hex(8)}"


def _wrap_aad(kek_id: str, context: bytes) -> bytes:
    encoded = kek_id.encode("ascii")
    return _AAD_LABEL + struct.pack(">H", len(encoded)) + encoded + context


def _check_context(context: bytes) -> None:
    if not isinstance(context, bytes) or not context:
        raise InvalidInput("a key-wrapping context must be non-empty bytes (e.g. the message id)")


class FileKeyring:
    """KEKs from a local key file. Load with ``FileKeyring(path)``; make one with ``FileKeyring.create``."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._current = ""
        self._keks: dict[str, AESGCM] = {}
        self.reload()

    @classmethod
    def create(cls, path: Path) -> FileKeyring:
        """Write a new keyring with one random KEK. Refuses to overwrite an existing file."""
        path = Path(path)
        if path.exists() or path.is_symlink():
            raise KeyringError(f"keyring file {path} already exists; refusing to overwrite it")
        ensure_private_dir(path.parent)
        kek_id = new_kek_id()
        try:
            _write(path, kek_id, {kek_id: secrets.token_bytes(KEK_BYTES)}, replace=False)
        except FileExistsError:
            raise KeyringError(f"keyring file {path} already exists; refusing to overwrite it") from None
        return cls(path)

    def __repr__(self) -> str:
        return f"FileKeyring(path={str(self._path)!r}, current={self._current!r}, keys={len(self._keks)})"

    @property
    def path(self) -> Path:
        return self._path

    def reload(self) -> None:
        """Read the file again (e.g. after another process rotated it)."""
        current, keys = _read(self._path)
        self._current = current
        self._keks = {kek_id: AESGCM(key) for kek_id, key in keys.items()}

    def current_kek_id(self) -> str:
        return self._current

    def kek_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._keks))

    def rotate(self) -> str:
        """Add a new random KEK and make it current; older KEKs stay for unwrapping. Returns its id."""
        with _locked(self._path):
            _, keys = _read(self._path)  # include KEKs another process may have added
            kek_id = new_kek_id()
            keys[kek_id] = secrets.token_bytes(KEK_BYTES)
            _write(self._path, kek_id, keys, replace=True)
        self.reload()
        return kek_id

    def wrap(self, dek: bytes, context: bytes) -> WrappedKey:
        """Encrypt ``dek`` under the current KEK, bound to ``context`` (e.g. the message id)."""
        if not isinstance(dek, bytes) or len(dek) != DATA_KEY_BYTES:
            raise InvalidInput(f"a data key must be {DATA_KEY_BYTES} bytes")
        _check_context(context)
        kek_id = self._current
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keks[kek_id].encrypt(nonce, dek, _wrap_aad(kek_id, context))
        return WrappedKey(kek_id=kek_id, blob=_WRAP_VERSION + nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        """The data key inside ``wrapped``; IntegrityError if it was made for another context or edited."""
        _check_context(context)
        aead = self._kek(wrapped.kek_id)
        blob = wrapped.blob
        if len(blob) != _WRAPPED_BYTES or blob[:1] != _WRAP_VERSION:
            raise IntegrityError("wrapped data key is malformed (wrong length or version)")
        nonce, sealed = blob[1:1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, sealed, _wrap_aad(wrapped.kek_id, context))
        except InvalidTag:
            raise IntegrityError(
                "wrapped data key failed authentication: it belongs to another message, or was edited"
            ) from None

    def rewrap(self, wrapped: WrappedKey, context: bytes) -> WrappedKey:
        """Re-wrap a data key under the current KEK (rotation without re-encrypting audio)."""
        return self.wrap(self.unwrap(wrapped, context), context)

    def _kek(self, kek_id: str) -> AESGCM:
        if kek_id not in self._keks:
            self.reload()  # another process may have rotated since we loaded
        try:
            return self._keks[kek_id]
        except KeyError:
            raise KeyringError(f"keyring file {self._path} has no key {kek_id[:64]!r}") from None


def _read(path: Path) -> tuple[str, dict[str, bytes]]:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyringError(f"keyring file {path} does not exist") from None
    except OSError as exc:
        raise KeyringError(f"cannot open keyring file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyringError(f"keyring file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise KeyringError(
                f"keyring file {path} is accessible by group/other (mode {stat.S_IMODE(info.st_mode):04o});"
                f" refusing to load it: chmod 600 it"
            )
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise KeyringError(f"keyring file {path} is too large to be a keyring")
    try:
        doc = json.loads(raw)
        return _parse(doc)
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise KeyringError(f"keyring file {path} is not a valid version-{VERSION} keyring") from None


def _parse(doc: Any) -> tuple[str, dict[str, bytes]]:
    if doc["format"] != FORMAT or doc["version"] != VERSION:
        raise ValueError("wrong format or version")
    keys: dict[str, bytes] = {}
    for kek_id, encoded in doc["keys"].items():
        key = base64.b64decode(encoded, validate=True)
        if not _KEK_ID.match(kek_id) or len(key) != KEK_BYTES:
            raise ValueError("bad key entry")
        keys[kek_id] = key
    current = doc["current"]
    if current not in keys:
        raise ValueError("current key missing")
    return current, keys


def _write(path: Path, current: str, keys: dict[str, bytes], *, replace: bool) -> None:
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "current": current,
        "keys": {kek_id: base64.b64encode(key).decode("ascii") for kek_id, key in sorted(keys.items())},
    }
    with private_temp_file(path.parent, prefix=f".{path.name}-") as (sink, temp):
        sink.write(json.dumps(doc, indent=2).encode("ascii") + b"\n")
    if replace:
        publish_replace(temp, path)
    else:
        publish_new(temp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise keyring writers across processes (a lost rotation would lose a KEK)."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
