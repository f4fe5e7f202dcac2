"""Sealed blobs at rest and the keys that protect them.

* ``FileVault``   — streaming seal / open / verify of per-message blobs in a local folder (``ports.Vault``)
* ``FileKeyring`` — key-encryption keys in a local 0600 JSON file; wraps data keys (``ports.Keyring``)
* ``new_data_key`` — a fresh 256-bit data key for one message

The blob format is described in ``sealed_stream``.
"""

from voicemail.vault.file_keyring import FileKeyring
from voicemail.vault.file_vault import FileVault, check_blob_name
from voicemail.vault.sealed_stream import DEFAULT_CHUNK_SIZE, SealedReader, new_data_key

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FileKeyring",
    "FileVault",
    "SealedReader",
    "check_blob_name",
    "new_data_key",
]
