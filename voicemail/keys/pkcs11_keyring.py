"""KEKs in an HSM through PKCS#11 (tested with SoftHSM2): the KEK never leaves the token.

Each KEK is an AES-256 secret key object on the token (CKA_TOKEN, CKA_SENSITIVE, not CKA_EXTRACTABLE),
labelled with its KEK id. Wrapping a data key is ``C_Encrypt`` with ``CKM_AES_GCM`` inside the token:
a random 12-byte IV, a 128-bit tag, and the same associated data and blob layout as the file keyring
(``0x01 | IV | ciphertext + tag``). AES-GCM encrypt/decrypt is what SoftHSM2 2.6 supports for this;
``CKM_AES_KEY_WRAP_PAD`` would need the data key imported as a token object first, for no gain, since
the data key is in process memory anyway while a message is sealed or opened.

Which KEK is current is a CKO_DATA object labelled ``voicemail-current-kek`` whose value is
``<kek id>|<nanoseconds>``; rotation writes a new one before removing the old, and the newest wins,
so a crash between the two leaves a consistent choice.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from voicemail.domain.errors import IntegrityError, InvalidInput, KeyringError
from voicemail.domain.models import WrappedKey
from voicemail.vault.file_keyring import _check_context, _wrap_aad, new_kek_id
from voicemail.vault.sealed_stream import DATA_KEY_BYTES

_WRAP_VERSION = b"\x01"
_NONCE_BYTES = 12
_WRAPPED_BYTES = 1 + _NONCE_BYTES + DATA_KEY_BYTES + 16
CURRENT_LABEL = "voicemail-current-kek"


class Pkcs11Keyring:
    backend = "pkcs11"

    def __init__(self, module: str, token_label: str, pin: str, *, load: bool = True) -> None:
        try:
            import pkcs11
        except ImportError:  # pragma: no cover - a declared dependency
            raise KeyringError("keyring_backend = pkcs11 needs the python-pkcs11 package") from None
        self._p: Any = pkcs11
        self._module = module
        self._token_label = token_label
        self._pin = pin
        self._lock = threading.RLock()
        self._pid = os.getpid()
        try:
            self._lib: Any = pkcs11.lib(module)
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise KeyringError(f"cannot load PKCS#11 module {module}: {type(exc).__name__}") from None
        self._session: Any = self._open()
        self._keys: dict[str, Any] = {}
        self._current = ""
        if load:
            self.reload()

    @classmethod
    def create(cls, module: str, token_label: str, pin: str) -> Pkcs11Keyring:
        """Generate the first KEK on the token; refuses when the token holds voicemail KEKs already."""
        ring = cls(module, token_label, pin, load=False)
        if ring._find_keys():
            raise KeyringError(f"PKCS#11 token {token_label!r} already holds voicemail KEKs; refusing to add a "
                               "second keyring (use `voicemail keys rotate`)")
        ring._generate_and_make_current()
        ring.reload()
        return ring

    def _open(self) -> Any:
        p = self._p
        try:
            token = self._lib.get_token(token_label=self._token_label)
            try:
                return token.open(user_pin=self._pin or None, rw=True)
            except p.exceptions.UserAlreadyLoggedIn:  # another keyring of this process logged in
                return token.open(rw=True)
        except (p.PKCS11Error, RuntimeError, OSError) as exc:
            raise KeyringError(f"cannot open PKCS#11 token {self._token_label!r} with module {self._module}: "
                               f"{type(exc).__name__}") from None

    def _after_fork(self) -> None:
        """PKCS#11 sessions do not survive fork (Celery prefork workers): a child re-initialises the
        library (C_Finalize + C_Initialize, as the standard asks) and opens its own session."""
        if os.getpid() == self._pid:
            return
        with self._lock:
            if os.getpid() != self._pid:
                self._lib.reinitialize()
                self._session = self._open()
                self._pid = os.getpid()
                self._keys = self._find_keys()

    def __repr__(self) -> str:
        return f"Pkcs11Keyring(token={self._token_label!r}, current={self._current!r}, keys={len(self._keys)})"

    # --- token objects ------------------------------------------------------------------------
    def _find_keys(self) -> dict[str, Any]:
        p = self._p
        out: dict[str, Any] = {}
        for obj in self._session.get_objects({p.Attribute.CLASS: p.ObjectClass.SECRET_KEY,
                                              p.Attribute.KEY_TYPE: p.KeyType.AES}):
            label = obj[p.Attribute.LABEL]
            if isinstance(label, str) and label.startswith("kek-"):
                out[label] = obj
        return out

    def _current_objects(self) -> list[tuple[int, str, Any]]:
        p = self._p
        found = []
        for obj in self._session.get_objects({p.Attribute.CLASS: p.ObjectClass.DATA,
                                              p.Attribute.LABEL: CURRENT_LABEL}):
            kek_id, _, stamp = bytes(obj[p.Attribute.VALUE]).decode("ascii", "replace").partition("|")
            found.append((int(stamp) if stamp.isdigit() else 0, kek_id, obj))
        return sorted(found, key=lambda f: f[0])

    def _generate_and_make_current(self) -> str:
        p = self._p
        kek_id = new_kek_id()
        self._session.generate_key(p.KeyType.AES, 256, label=kek_id, store=True, template={
            p.Attribute.TOKEN: True, p.Attribute.SENSITIVE: True, p.Attribute.EXTRACTABLE: False,
            p.Attribute.ENCRYPT: True, p.Attribute.DECRYPT: True, p.Attribute.PRIVATE: True,
            p.Attribute.WRAP: False, p.Attribute.UNWRAP: False})
        old = self._current_objects()
        self._session.create_object({p.Attribute.CLASS: p.ObjectClass.DATA, p.Attribute.LABEL: CURRENT_LABEL,
                                     p.Attribute.TOKEN: True, p.Attribute.PRIVATE: True,
                                     p.Attribute.VALUE: f"{kek_id}|{time.time_ns()}".encode("ascii")})
        for _, _, obj in old:
            obj.destroy()
        return kek_id

    # --- RotatableKeyring ---------------------------------------------------------------------
    def reload(self) -> None:
        self._after_fork()
        with self._lock:
            self._keys = self._find_keys()
            pointers = self._current_objects()
            if not pointers or pointers[-1][1] not in self._keys:
                raise KeyringError(f"PKCS#11 token {self._token_label!r} has no current voicemail KEK: create one "
                                   "with `voicemail keys init` (keyring_backend = pkcs11)")
            self._current = pointers[-1][1]

    def current_kek_id(self) -> str:
        return self._current

    def kek_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))

    def rotate(self) -> str:
        with self._lock:
            kek_id = self._generate_and_make_current()
        self.reload()
        return kek_id

    def destroy(self, kek_id: str) -> str:
        self.reload()
        if kek_id == self._current:
            raise KeyringError(f"key {kek_id[:64]!r} is the current key; rotate first")
        with self._lock:
            key = self._keys.pop(kek_id, None)
            if key is None:
                return "already"
            key.destroy()
        return "destroyed"

    def _key(self, kek_id: str) -> Any:
        if kek_id not in self._keys:
            self.reload()
        try:
            return self._keys[kek_id]
        except KeyError:
            raise KeyringError(f"PKCS#11 token {self._token_label!r} has no key {kek_id[:64]!r}") from None

    def wrap(self, dek: bytes, context: bytes) -> WrappedKey:
        if not isinstance(dek, bytes) or len(dek) != DATA_KEY_BYTES:
            raise InvalidInput(f"a data key must be {DATA_KEY_BYTES} bytes")
        _check_context(context)
        from pkcs11.mechanisms import GCMParams

        self._after_fork()
        kek_id = self._current
        nonce = os.urandom(_NONCE_BYTES)
        with self._lock:
            sealed = self._key(kek_id).encrypt(dek, mechanism=self._p.Mechanism.AES_GCM,
                                               mechanism_param=GCMParams(nonce, _wrap_aad(kek_id, context), 128))
        return WrappedKey(kek_id=kek_id, blob=_WRAP_VERSION + nonce + bytes(sealed))

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        _check_context(context)
        from pkcs11.mechanisms import GCMParams

        blob = wrapped.blob
        if len(blob) != _WRAPPED_BYTES or blob[:1] != _WRAP_VERSION:
            raise IntegrityError("wrapped data key is malformed (wrong length or version)")
        nonce, sealed = blob[1:1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES:]
        self._after_fork()
        key = self._key(wrapped.kek_id)
        try:
            with self._lock:
                return bytes(key.decrypt(sealed, mechanism=self._p.Mechanism.AES_GCM,
                                         mechanism_param=GCMParams(nonce, _wrap_aad(wrapped.kek_id, context), 128)))
        except self._p.PKCS11Error:
            raise IntegrityError(
                "wrapped data key failed authentication: it belongs to another message, or was edited"
            ) from None

    def close(self) -> None:
        self._session.close()
