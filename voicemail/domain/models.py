"""Frozen value objects shared by every part of the system."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from voicemail.domain.errors import InvalidMailbox

# app_voicemail context and mailbox names: letters, digits and a few separators; never a path.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+.\-]{0,79}\Z")
# Asterisk's msg_id: "<origtime>-<8 hex digits>" (e.g. 1795978545-00000000).
MSG_ID = re.compile(r"^[0-9]{1,12}-[0-9a-fA-F]{8}\Z")
FOLDERS = ("INBOX", "Old", "Urgent", "Work", "Family", "Friends",
           "Cust1", "Cust2", "Cust3", "Cust4", "Cust5", "Deleted")
NEW_FOLDERS = ("INBOX", "Urgent")  # app_voicemail keeps new urgent messages in Urgent/ (capture q5)
OLD_FOLDERS = tuple(f for f in FOLDERS if f not in NEW_FOLDERS)


def check_name(value: str, what: str) -> str:
    if not _NAME.match(value) or ".." in value:
        raise InvalidMailbox(f"invalid {what} name: {value[:40]!r}")
    return value


@dataclass(frozen=True, order=True)
class MailboxRef:
    """A mailbox as Asterisk names it, ``mailbox@context``, on one Asterisk (``site``; empty = the default
    site, as a spool or an AMI event names it: the store it reaches knows which site it serves)."""

    context: str
    mailbox: str
    site: str = ""

    def __post_init__(self) -> None:
        check_name(self.context, "context")
        check_name(self.mailbox, "mailbox")
        if self.site:
            check_name(self.site, "site")

    def on_site(self, site: str) -> MailboxRef:
        """The same mailbox on the named site."""
        return MailboxRef(self.context, self.mailbox, site)

    @classmethod
    def parse(cls, text: str, default_context: str = "default") -> MailboxRef:
        """``mailbox[@context[@site]]``."""
        box, _, rest = text.partition("@")
        ctx, _, site = rest.partition("@")
        return cls(context=ctx or default_context, mailbox=box, site=site)

    @property
    def qualified(self) -> str:
        """``mailbox@context``, with ``@site`` when the site is named."""
        return f"{self.mailbox}@{self.context}@{self.site}" if self.site else str(self)

    def __str__(self) -> str:
        return f"{self.mailbox}@{self.context}"


@dataclass(frozen=True)
class Envelope:
    """The ``[message]`` section of app_voicemail's msgNNNN.txt."""

    msg_id: str
    origmailbox: str
    context: str  # the dialplan context the call came from (not the mailbox context)
    exten: str
    callerid: str  # raw, caller-controlled: hostile input
    origtime: int
    duration: int
    flag: str = ""
    callerchan: str = ""
    origdate: str = ""
    category: str = ""
    rdnis: str = ""
    priority: str = ""

    @property
    def urgent(self) -> bool:
        return self.flag.lower() == "urgent"


@dataclass(frozen=True)
class AudioFile:
    """One recording format of a message as it lies in the spool (e.g. ``wav``, ``WAV``)."""

    fmt: str  # the file extension exactly as Asterisk wrote it (case matters: WAV = wav49)
    path: str


@dataclass(frozen=True)
class SpoolMessage:
    """A message found in the spool: where it lies now and what its envelope says.

    ``number`` and the paths change whenever Asterisk renumbers a folder; ``envelope.msg_id`` does not.
    """

    mailbox: MailboxRef
    folder: str
    number: int
    txt_path: str
    envelope: Envelope
    audio: tuple[AudioFile, ...]
    # why the envelope parser refused the .txt ("" = it parsed): then ``envelope`` holds only what custody
    # needs (voicemail.spool.envelope_salvage) and the caller counts as unknown
    envelope_problem: str = ""


@dataclass(frozen=True)
class SpoolProblem:
    """A spool entry we refused to touch, with the reason (never its content)."""

    path: str
    reason: str


@dataclass(frozen=True)
class SpoolScan:
    messages: tuple[SpoolMessage, ...]
    problems: tuple[SpoolProblem, ...] = ()


class CallerKind(enum.Enum):
    INTERNAL = "internal"
    EXTERNAL = "external"


@dataclass(frozen=True)
class Caller:
    """The classified caller. For EXTERNAL callers ``name`` and ``number`` are always None."""

    kind: CallerKind
    name: str | None = None
    number: str | None = None

    @classmethod
    def external(cls) -> Caller:
        return cls(CallerKind.EXTERNAL)


@dataclass(frozen=True)
class DirectoryEntry:
    number: str
    name: str
    email: str = ""


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under a key-encryption key of the keyring."""

    kek_id: str
    blob: bytes


@dataclass(frozen=True)
class SealedRecording:
    """One format of one message, sealed in the vault."""

    fmt: str
    blob_name: str
    sha256: str  # hex digest of the plaintext exactly as Asterisk wrote it
    size: int


@dataclass(frozen=True)
class OutgoingEmail:
    """A notification, backend-neutral. Every field is already safe to put on the wire."""

    notification_id: str  # opaque; never derived from caller data
    recipient: str
    sender: str
    subject: str
    text: str
    html: str
    urgent: bool = False
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
