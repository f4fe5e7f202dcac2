"""The small interfaces (ports) that adapters implement and services depend on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol

from voicemail.domain.models import (
    Caller,
    DirectoryEntry,
    MailboxRef,
    OutgoingEmail,
    SealedRecording,
    SpoolMessage,
    SpoolScan,
    WrappedKey,
)
from voicemail.domain.records import CustodyRun, MailboxOwner, MessageRecord, NotificationWork, StuckWork


class Spool(Protocol):
    """app_voicemail's file spool: ``<root>/<context>/<mailbox>/<folder>/msgNNNN.{txt,wav,WAV,...}``."""

    def mailboxes(self) -> list[MailboxRef]: ...

    def scan(self, mailbox: MailboxRef) -> SpoolScan: ...

    def find(self, mailbox: MailboxRef, msg_id: str, hint: tuple[str, int] | None = None) -> SpoolMessage | None:
        """Locate by msg_id; ``hint`` (folder, number) is where it was last seen, tried first."""
        ...

    def open_audio(self, message: SpoolMessage, fmt: str) -> BinaryIO: ...

    def read_envelope_bytes(self, message: SpoolMessage) -> bytes: ...

    def replace_with_placeholder(self, message: SpoolMessage, fmt: str, expected_sha256: str) -> str:
        """Atomically swap the recording for a silent placeholder of the same format, only if the file
        there still hashes to ``expected_sha256``. Returns "replaced", "already" (a placeholder is
        there) or raises SpoolChanged (something else is there now)."""
        ...

    def is_placeholder(self, message: SpoolMessage, fmt: str) -> bool: ...

    def envelope_and_placeholders(self, message: SpoolMessage) -> tuple[bytes, bool]:
        """``read_envelope_bytes`` and whether every audio format ``is_placeholder``, in one look."""
        ...

    def clear_swap_leftovers(self, mailbox: MailboxRef, sealed_hashes: Callable[[], set[str]]) -> int:
        """Remove the swap files an interrupted strip left that hold a placeholder or a recording whose
        SHA-256 is in ``sealed_hashes()``; returns how many. Others are left and reported by ``scan``."""
        ...


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
    """Sends one notification. Raises TransientError (retry) or PermanentError (dead-letter).

    ``before_commit`` is called at the last moment the send can still be abandoned with nothing delivered
    (SMTP: before the final dot of DATA; outbox: before the rename; HTTP: before the request); when it
    raises, the sender abandons the send and lets the error through."""

    def send(self, email: OutgoingEmail, before_commit: Callable[[], None] | None = None) -> None: ...


class AsteriskControl(Protocol):
    """What the workers ask of Asterisk (blocking calls)."""

    def refresh(self, mailbox: MailboxRef) -> None: ...


class MessageStore(Protocol):
    """The custody pipeline's state (a transactional outbox). Every write is one transaction."""

    def record_discovered(self, message: SpoolMessage, caller: Caller, envelope: bytes) -> tuple[str, bool]:
        """Insert the message if unknown. Returns (message id, created)."""
        ...

    def known_msg_ids(self, mailbox: MailboxRef) -> set[str]: ...

    def sealed_sha256s(self, mailbox: MailboxRef) -> set[str]:
        """The plaintext SHA-256 of every sealed, committed recording of the mailbox."""
        ...

    def get(self, message_id: str) -> MessageRecord: ...

    def find(self, mailbox: MailboxRef, msg_id: str) -> MessageRecord | None: ...

    def begin_custody(self, message_id: str, max_unfinished: int) -> CustodyRun:
        """Count a custody run before its work starts; CrashLoop when ``max_unfinished`` runs in a row
        died with their worker."""
        ...

    def end_custody(self, message_id: str) -> None: ...

    def touch(self, kind: str, ref_id: str) -> None:
        """Mark work as progressing now (the sweeper leaves it alone for stale_after)."""
        ...

    def mark_sealed(
        self, message_id: str, wrapped: WrappedKey, recordings: list[SealedRecording], attempt: str | None = None
    ) -> bool: ...

    def mark_stripped(self, message_id: str) -> str:
        """Set state stripped and create the notification (once). Returns the notification id."""
        ...

    def mark_vanished(self, message_id: str) -> None: ...

    def note_failure(self, message_id: str, error: str, retry_in: float | None = None) -> None: ...

    def claim_notification(self, notification_id: str, lease_seconds: float = 60.0) -> NotificationWork | None:
        """None = done; state "busy" = another worker's live lease; "sending" = ours, with a fencing token."""
        ...

    def renew_lease(self, notification_id: str, token: int, lease_seconds: float) -> bool: ...

    def release_lease(self, notification_id: str, token: int) -> None: ...

    def mark_notification_sent(self, notification_id: str, recipient: str, token: int | None = None) -> bool: ...

    def mark_notification_failed(self, notification_id: str, error: str) -> None: ...

    def dead_letter(self, task: str, ref_id: str, error: str, attempts: int) -> bool:
        """Park work (an open letter for the same work is updated). True = newly parked."""
        ...

    def stuck(self, older_than_seconds: float) -> list[StuckWork]: ...

    def upsert_mailbox(self, owner: MailboxOwner) -> None: ...

    def owner(self, mailbox: MailboxRef) -> MailboxOwner | None: ...


class Shredder(Protocol):
    """Destroys a message for good by crypto-shredding (the lifecycle package owns the implementation,
    ``voicemail/services/shred.py``): destroy the data key, then the blobs, then the spool envelope via
    AMI ``VoicemailRemove``, then the row; each step idempotent and audited. Never a held message:
    returns "held" (nothing changed) when a legal hold covers it, "destroyed" when done, "already"
    when there was nothing left to destroy."""

    def shred(self, message_id: str, *, actor: str, source: str, reason: str, finish: bool = True) -> str:
        """``finish`` False: only destroy the key (the point of no return) and return "started"; shredding
        the same message again completes it."""
        ...


class OwnerPreferences(Protocol):
    """What a mailbox owner chose on the web settings page: where notifications go and the time zone
    dates are shown in. Empty strings = not chosen (the directory / voicemail.conf / defaults apply)."""

    def for_mailbox(self, mailbox: MailboxRef) -> tuple[str, str]: ...
