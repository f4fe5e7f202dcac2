"""A folder move its owner decided that Asterisk has yet to carry out (see voicemail/services/folder_moves.py)."""

from __future__ import annotations

from dataclasses import dataclass

from voicemail.domain.models import MailboxRef


@dataclass(frozen=True)
class PendingMove:
    message_id: str
    mailbox: MailboxRef
    msg_id: str  # Asterisk's msg_id
    from_folder: str  # where our listing had it when the owner decided
    to_folder: str  # where our listing has it now: where Asterisk is to have it
    token: str  # this decision (a newer one for the same message has another)
    attempts: int  # failed attempts so far
    listed: bool  # the message is still listed (not hidden, not being destroyed, not vanished)
    hidden: bool = False  # deleted by its owner under a legal hold (kept, out of sight: moved to the hold folder)
