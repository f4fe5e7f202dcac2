"""What a mailbox owner can do with their voicemail, as the web layer sees it (no HTTP, no SQL).

The contract between the web app (``voicemail/web``) and the mailbox services
(``voicemail/services/mailbox*.py``). Every method takes the signed-in ``Viewer`` so that the service
decides, and audits, what that person may see; a message the viewer may not see raises ``NotFound``
(never "forbidden": a denied request must not reveal whether the message exists).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from voicemail.domain.forwarding import ForwardNote
from voicemail.domain.models import MailboxRef
from voicemail.domain.phone_call import CallStatus

Folder = Literal["INBOX", "Old"]
Sort = Literal["newest", "oldest", "longest", "shortest"]
Role = Literal["owner", "administrator"]


@dataclass(frozen=True)
class Viewer:
    """The signed-in person. ``mailboxes`` are the ones they own; administrators see metadata of all,
    never audio. ``source`` is where the request came from (IP address) for the audit trail."""

    account: str
    roles: frozenset[str]
    mailboxes: tuple[MailboxRef, ...]
    source: str = ""
    numbers: tuple[str, ...] = ()  # their phone numbers / extensions (call history)

    def owns(self, mailbox: MailboxRef) -> bool:
        return mailbox in self.mailboxes

    @property
    def is_administrator(self) -> bool:
        return "administrator" in self.roles


@dataclass(frozen=True)
class InboxRow:
    """One listed message, as stored (caller data raw: the service applies the disclosure rule)."""

    id: str
    mailbox: MailboxRef
    msg_id: str
    state: str
    folder: str
    number: int | None
    origtime: int
    duration: int
    urgent: bool
    caller_kind: str
    caller_withheld: bool
    caller_name: str | None
    caller_number: str | None
    callerid_raw: str
    formats: tuple[str, ...]
    sealed: bool  # a wrapped key and recordings exist
    forwarded: bool = False  # a colleague forwarded it to this mailbox


@dataclass(frozen=True)
class InboxQuery:
    folder: Folder | None = None  # None = both
    urgent_only: bool = False
    caller_kind: Literal["internal", "external", "anonymous"] | None = None
    sort: Sort = "newest"
    offset: int = 0
    limit: int = 50  # 1..200
    caller_text: str = ""  # a caller's name or number, or part of it ("" = anyone)
    received_from: int | None = None  # epoch seconds, inclusive
    received_before: int | None = None  # epoch seconds, exclusive
    # whose identities the caller search may match: "all", or "internal" for a viewer who may not see
    # outside callers (set by the mailbox services from the viewer, never by the request)
    search_scope: Literal["all", "internal"] = "all"

    @property
    def searches(self) -> bool:
        return bool(self.caller_text) or self.received_from is not None or self.received_before is not None


@dataclass(frozen=True)
class InboxItem:
    id: str  # our message id (uuid); never the spool path
    mailbox: MailboxRef
    folder: Folder
    received_at: int  # epoch seconds (Asterisk's origtime)
    duration: int  # seconds
    urgent: bool
    caller_kind: str  # internal | external | anonymous
    caller_name: str | None  # shown to the mailbox owner as the disclosure rule for the web allows
    caller_number: str | None
    formats: tuple[str, ...] = ()
    playable: bool = True  # sealed audio is available
    forwarded: bool = False  # a colleague forwarded it to this mailbox (who and why: forward_note)


@dataclass(frozen=True)
class InboxPage:
    items: tuple[InboxItem, ...]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class ByteRange:
    """An HTTP byte range already parsed: ``start`` inclusive, ``end`` inclusive or None = to the end;
    ``suffix`` = the last N bytes (``bytes=-N``)."""

    start: int | None
    end: int | None = None
    suffix: int | None = None


@dataclass
class AudioStream:
    """Decrypted audio, produced lazily. ``start``/``end`` are the inclusive byte positions served;
    ``total`` the full length (None when unknown, e.g. a live transcode)."""

    content_type: str
    chunks: Iterator[bytes]
    start: int
    end: int | None
    total: int | None
    partial: bool = False
    close: list[object] = field(default_factory=list)  # callables run when the response ends


@dataclass(frozen=True)
class CallRecord:
    at: str  # Asterisk's StartTime (local time of the PBX)
    direction: Literal["placed", "received", "missed"]
    other_party: str  # the other number (as the PBX saw it)
    other_name: str  # "" when unknown
    duration: int
    billable_seconds: int
    disposition: str
    site: str = ""  # the Asterisk that reported the call (its site name)


@dataclass(frozen=True)
class CallScope:
    """Whose calls on one site: those to one of ``numbers`` or placed from one of ``devices`` there."""

    site: str  # the site's name
    numbers: tuple[str, ...]
    devices: tuple[str, ...]


@dataclass(frozen=True)
class CallHistoryPage:
    items: tuple[CallRecord, ...]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class Forwarded:
    message_id: str  # the recipient's new message
    to: MailboxRef
    held: bool  # the original is under a legal hold (it stays so; the copy is not covered)


class MailboxService(Protocol):
    def inbox(self, viewer: Viewer, mailbox: MailboxRef, query: InboxQuery) -> InboxPage: ...

    def message(self, viewer: Viewer, message_id: str) -> InboxItem: ...

    def audio(self, viewer: Viewer, message_id: str, byte_range: ByteRange | None,
              fmt: Literal["original", "browser"] = "browser") -> AudioStream:
        """Owner only (administrators get NotFound). Audited as audio.play. Raises RangeNotSatisfiable."""
        ...

    def download(self, viewer: Viewer, message_id: str) -> tuple[AudioStream, int]:
        """The whole recording as WAV and its origtime. Owner only. Audited as audio.download."""
        ...

    def mark(self, viewer: Viewer, message_id: str, read: bool) -> InboxItem:
        """VoicemailMove INBOX<->Old over AMI (the lamp follows). Owner only."""
        ...

    def save_to_old(self, viewer: Viewer, message_id: str) -> None:
        """Mark read as decided on the phone: listed in Old and audited at once, Asterisk's folder moved in
        the background (retried until confirmed). Owner only."""
        ...

    def delete(self, viewer: Viewer, message_id: str, *, later: bool = False) -> None:
        """VoicemailRemove + crypto-shred; under a legal hold the message is only hidden. Owner only.
        ``later``: return once the key is destroyed (or the message hidden), Asterisk in the background."""
        ...

    def play_on_phone(self, viewer: Viewer, message_id: str) -> str:
        """Originate to the owner's own device; returns the call's id. Owner only. FeatureUnavailable
        when the site has no device template."""
        ...

    @property
    def plays_on_phones(self) -> bool:
        """Whether "Play on my phone" is set up on this site."""
        ...

    def phone_call(self, viewer: Viewer, call_id: str) -> CallStatus:
        """What became of a call ``play_on_phone`` started; NotFound for anyone else's."""
        ...

    def call_history(self, viewer: Viewer, offset: int, limit: int) -> CallHistoryPage: ...

    @property
    def forwards(self) -> bool:
        """Whether messages can be forwarded to another mailbox on this site."""
        ...

    def forward(self, viewer: Viewer, message_id: str, to: str, comment: str = "") -> Forwarded:
        """Copy the message into mailbox ``to`` with an optional comment. Owner only. InvalidInput /
        Conflict (with a sentence for the person) when it cannot be done."""
        ...

    def forward_note(self, viewer: Viewer, message_id: str) -> ForwardNote | None:
        """Who forwarded the message to its owner, and their comment."""
        ...
