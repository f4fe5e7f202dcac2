"""A "Play on my phone" call as the user sees it: its state and the plain words for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from voicemail.domain.models import MailboxRef

CallState = Literal["ringing", "answered", "finished", "no_answer", "busy", "congestion", "unreachable", "failed"]

MESSAGES: dict[CallState, str] = {
    "ringing": "Calling your phone. Answer it to hear the message.",
    "answered": "Your phone answered. The message is playing.",
    "finished": "The message was played on your phone.",
    "no_answer": "Your phone did not answer.",
    "busy": "Your phone is busy.",
    "congestion": "The phone system could not reach your phone (network busy). Try again later.",
    "unreachable": "Your phone could not be called. Ask your administrator to check its set-up.",
    "failed": "The call to your phone failed.",
}
FINAL: frozenset[CallState] = frozenset({"finished", "no_answer", "busy", "congestion", "unreachable", "failed"})


@dataclass(frozen=True)
class CallStatus:
    id: str
    mailbox: MailboxRef
    message_id: str
    state: CallState
    started_at: float

    @property
    def message(self) -> str:
        return MESSAGES[self.state]

    @property
    def final(self) -> bool:
        return self.state in FINAL
