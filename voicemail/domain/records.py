"""What the custody pipeline remembers about a message, as the services see it (no ORM types)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from voicemail.domain.models import Caller, MailboxRef, SealedRecording, WrappedKey

DISCOVERED = "discovered"  # seen in the spool; plaintext only in Asterisk's spool
SEALED = "sealed"  # a verified sealed copy is committed; the spool still holds plaintext
STRIPPED = "stripped"  # the spool holds placeholders only; the vault holds the audio
VANISHED = "vanished"  # gone from the spool before we could seal it (deleted on the phone)
SHREDDING = "shredding"  # the data key is destroyed; blobs / spool / row still to go
DESTROYED = "destroyed"  # a tombstone: nothing of the message is left but its ids
FORWARDING = "forwarding"  # a forwarded copy, sealed under its own key, on its way into the recipient's spool
LISTED_STATES = (DISCOVERED, SEALED, STRIPPED)  # the states an inbox lists


@dataclass(frozen=True)
class MessageRecord:
    id: str
    mailbox: MailboxRef
    msg_id: str
    state: str
    folder: str
    origtime: int
    duration: int
    urgent: bool
    caller: Caller
    wrapped_key: WrappedKey | None
    recordings: tuple[SealedRecording, ...]
    attempts: int = 0
    number: int | None = None  # msgNNNN where it was last seen (a hint: Asterisk renumbers)


@dataclass(frozen=True)
class MailboxOwner:
    mailbox: MailboxRef
    fullname: str
    email: str
    timezone: str = ""


@dataclass(frozen=True)
class NotificationWork:
    """A claimed notification. ``state`` "sending" = ours, under the fencing ``token`` until the lease
    ends; "busy" = another worker holds a live lease (nothing to do now)."""

    id: str
    message_id: str
    state: str
    attempts: int
    token: int = 0


@dataclass(frozen=True)
class CustodyRun:
    """One custody run of a message, counted before its work starts. ``attempt`` names its blobs and
    fences its commit; ``deliveries`` = runs started since the last one that finished cleanly."""

    message_id: str
    attempt: str
    deliveries: int


@dataclass(frozen=True)
class StuckWork:
    kind: str  # "message" or "notification"
    id: str
    state: str
    since: dt.datetime
    site: str = ""  # a message's site (its custody runs where that site's spool is mounted)
