"""A message forwarded from one mailbox to another, as the services and the store exchange it."""

from __future__ import annotations

from dataclasses import dataclass

from voicemail.domain.models import MailboxRef, SealedRecording, WrappedKey
from voicemail.domain.records import MessageRecord


@dataclass(frozen=True)
class ForwardNote:
    """What the recipient is told about a forwarded message: who sent it on (an internal colleague,
    ``forwarder_label`` such as "Alice Example (1001)") and their comment ("" = none)."""

    source_message_id: str
    forwarded_by: str  # the forwarding account
    forwarder_label: str
    comment: str


@dataclass(frozen=True)
class ForwardCopy:
    """The recipient's new message, sealed under its own key, to be recorded in state ``forwarding``."""

    message_id: str
    mailbox: MailboxRef
    source: MessageRecord
    wrapped: WrappedKey
    recordings: tuple[SealedRecording, ...]
    note: ForwardNote
