"""What rotation needs of a keyring, beyond ``ports.Keyring``, and the choice of backend from settings.

Both backends produce the same wrapped-key blob (``0x01 | 12-byte nonce | AES-256-GCM(dek) + tag``,
associated data binding the KEK id and the message id), so a data key moves between KEKs of one
backend by ``rewrap`` and the message rows never know where the KEK lives.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from voicemail.domain.errors import KeyringError
from voicemail.domain.models import WrappedKey

if TYPE_CHECKING:
    from voicemail.config import Settings


class RotatableKeyring(Protocol):
    """A keyring whose KEKs can be added (rotate) and destroyed (retire)."""

    backend: str

    def current_kek_id(self) -> str: ...

    def kek_ids(self) -> tuple[str, ...]: ...

    def wrap(self, dek: bytes, context: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes: ...

    def reload(self) -> None: ...

    def rotate(self) -> str:
        """Add a new KEK and make it current (older ones stay for unwrapping). Returns its id."""
        ...

    def destroy(self, kek_id: str) -> str:
        """Destroy a KEK that is not current. Returns "destroyed" or "already"."""
        ...


def open_backend(settings: Settings) -> RotatableKeyring:
    """The configured keyring (``keyring_backend``): the local file (default) or a PKCS#11 token."""
    if settings.keyring_backend == "pkcs11":
        from voicemail.keys.pkcs11_keyring import Pkcs11Keyring

        return Pkcs11Keyring(settings.pkcs11_module, settings.pkcs11_token_label, settings.pkcs11_pin)
    from voicemail.keys.file_backend import RotatableFileKeyring

    path = Path(settings.keyring)
    if not path.exists():
        raise KeyringError(f"no keyring at {path}: create one with `voicemail keys init`")
    return RotatableFileKeyring(path)


def create_backend(settings: Settings) -> RotatableKeyring:
    """A new keyring with one KEK (`voicemail keys init`); refuses when one exists."""
    if settings.keyring_backend == "pkcs11":
        from voicemail.keys.pkcs11_keyring import Pkcs11Keyring

        return Pkcs11Keyring.create(settings.pkcs11_module, settings.pkcs11_token_label, settings.pkcs11_pin)
    from voicemail.keys.file_backend import RotatableFileKeyring

    return RotatableFileKeyring.create_rotatable(Path(settings.keyring))
