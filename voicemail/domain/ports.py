"""The small interfaces (ports) that adapters implement and services depend on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from voicemail.domain.models import (
    DirectoryEntry,
    MailboxRef,
    OutgoingEmail,
    SealedRecording,
    SpoolMessage,
    SpoolScan,
    WrappedKey,
)


class Spool(Protocol):
    """app_voicemail's file spool: ``<root>/<context>/<mailbox>/<folder>/msgNNNN.{txt,wav,WAV,...}``."""

    def mailboxes(self) -> list[MailboxRef]: ...

    def scan(self, mailbox: MailboxRef) -> SpoolScan: ...

    def find(self, mailbox: MailboxRef, msg_id: str) -> SpoolMessage | None: ...

    def open_audio(self, message: SpoolMessage, fmt: str) -> BinaryIO: ...

    def read_envelope_bytes(self, message: SpoolMessage) -> bytes: ...

    def replace_with_placeholder(self, message: SpoolMessage, fmt: str, expected_sha256: str) -> str:
        """Atomically swap the recording for a silent placeholder of the same format, only if the file
        there still hashes to ``expected_sha256``. Returns "replaced", "already" (a placeholder is
        there) or raises SpoolChanged (something else is there now)."""
        ...

    def is_placeholder(self, message: SpoolMessage, fmt: str) -> bool: ...


class Keyring(Protocol):
    def current_kek_id(self) -> str: ...

    def wrap(self, dek: bytes, context: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes: ...


class Vault(Protocol):
    """Sealed blobs at rest. The caller owns the data key (one per message)."""

    def seal(self, source: BinaryIO, blob_name: str, dek: bytes, key_id: bytes) -> SealedRecording: ...

    def open(self, blob_name: str, dek: bytes, key_id: bytes) -> Iterator[bytes]: ...

    def verify(self, blob_name: str, dek: bytes, key_id: bytes, expected_sha256: str) -> None: ...

    def delete(self, blob_name: str) -> None: ...

    def exists(self, blob_name: str) -> bool: ...


class Directory(Protocol):
    def lookup(self, number: str) -> DirectoryEntry | None: ...


class Mailer(Protocol):
    """Sends one notification. Raises TransientError (retry) or PermanentError (dead-letter)."""

    def send(self, email: OutgoingEmail) -> None: ...


class AsteriskControl(Protocol):
    """What the workers ask of Asterisk (blocking calls)."""

    def refresh(self, mailbox: MailboxRef) -> None: ...
