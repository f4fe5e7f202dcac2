"""The local file keyring (voicemail.vault.file_keyring) with what rotation needs: destroying a KEK.

Destroying rewrites the 0600 file without the key (under the same lock as ``rotate``). Copies of
the keyring file in backups still hold it: crypto-shredding by KEK retirement is only as good as
the backup rotation of the keyring file (the per-message data keys are what retention destroys).
"""

from __future__ import annotations

from pathlib import Path

from voicemail.domain.errors import KeyringError
from voicemail.vault.file_keyring import FileKeyring, _locked, _read, _write


class RotatableFileKeyring(FileKeyring):
    backend = "file"

    @classmethod
    def create_rotatable(cls, path: Path) -> RotatableFileKeyring:
        FileKeyring.create(path)
        return cls(path)

    def destroy(self, kek_id: str) -> str:
        with _locked(self.path):
            current, keys = _read(self.path)
            if kek_id == current:
                raise KeyringError(f"key {kek_id[:64]!r} is the current key; rotate first")
            if kek_id not in keys:
                return "already"
            del keys[kek_id]
            _write(self.path, current, keys, replace=True)
        self.reload()
        return "destroyed"
