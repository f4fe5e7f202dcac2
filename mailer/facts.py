"""Everything that composing a notification may use, and nothing else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from mailer.sanitize import is_plain_address
from voicemail.domain.errors import InvalidInput
from voicemail.domain.models import Caller

# Opaque ids become file names and Message-IDs: keep them to a safe alphabet.
NOTIFICATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$")
_MAX_URL = 2048
_MAX_DURATION = 24 * 3600


def check_notification_id(value: str) -> str:
    if not isinstance(value, str) or not NOTIFICATION_ID.match(value):
        raise InvalidInput("notification id must be 1-128 characters of A-Z, a-z, 0-9 and '-'")
    return value


def check_player_url(value: str) -> str:
    """An http(s) link with no whitespace, quotes, angle brackets or control characters."""
    parts = urlsplit(value) if isinstance(value, str) else None
    if (
        parts is None
        or parts.scheme not in ("https", "http")
        or not parts.netloc
        or len(value) > _MAX_URL
        or any(ord(char) <= 0x20 or ord(char) >= 0x7F or char in "\"'<>\\`" for char in value)
    ):
        raise InvalidInput("player_url must be an absolute http(s) URL of printable ASCII")
    return value


@dataclass(frozen=True)
class NotificationFacts:
    """The facts of one notification.

    ``caller`` is already classified (see DESIGN.md "Who is internal"). For an EXTERNAL caller,
    composition ignores ``caller.name`` and ``caller.number`` even if someone filled them in.
    ``player_url`` carries only an opaque id; ``mailbox`` is the owner's own mailbox.
    """

    notification_id: str
    recipient: str
    recipient_name: str
    mailbox: str  # e.g. "1001@default"
    caller: Caller
    received_at: datetime  # timezone-aware
    duration_seconds: int
    urgent: bool
    player_url: str
    owner_timezone: str = "UTC"  # IANA name, e.g. "Europe/Berlin"; unknown names fall back to UTC
    new_count: int = 1  # new (unheard) messages in the mailbox, this one included
    play_on_phone: bool = False  # the web player offers "Play on my phone" (the feature is switched on)
    # --- forwarding: set when a colleague forwarded the message to this mailbox ---
    forwarded_by: str = ""  # the colleague, e.g. "Alice Example (1001)" (an internal person)
    forward_comment: str = ""  # their comment ("" = none); any text, escaped and limited by composition
    # --- several sites: the site (Asterisk) of the mailbox; "" with one site (then nothing is shown) ---
    site: str = ""

    def __post_init__(self) -> None:
        check_notification_id(self.notification_id)
        if not is_plain_address(self.recipient):
            raise InvalidInput("recipient must be a plain e-mail address")
        check_player_url(self.player_url)
        if self.received_at.tzinfo is None or self.received_at.utcoffset() is None:
            raise InvalidInput("received_at must be a timezone-aware datetime")
        if (
            isinstance(self.duration_seconds, bool)
            or not isinstance(self.duration_seconds, int)
            or not 0 <= self.duration_seconds <= _MAX_DURATION
        ):
            raise InvalidInput("duration_seconds must be a whole number of seconds from 0 to 86400")
        if isinstance(self.new_count, bool) or not isinstance(self.new_count, int) or self.new_count < 0:
            raise InvalidInput("new_count must be a whole number from 0")
        if not isinstance(self.caller, Caller):
            raise InvalidInput("caller must be a classified Caller")
