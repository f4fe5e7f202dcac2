"""What the telephone menu asks of the world, and what it gets back (pure values).

The menu (``menu.py``) is a generator: it yields an AGI ``Command`` (answered with an ``AgiReply``)
or one of the requests below (answered by the driver through the mailbox port, ``port.py``). It never
does I/O itself, so a test can drive a whole call by sending it replies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Greeting = Literal["unavail", "busy", "greet", "temp"]
GREETINGS: tuple[Greeting, ...] = ("unavail", "busy", "greet", "temp")


@dataclass(frozen=True)
class Command:
    """An AGI command to run on the call's channel; the menu gets the ``AgiReply`` back."""

    text: str


@dataclass(frozen=True)
class MessageInfo:
    """One message as the phone menu may tell it: ``caller_digits`` only for an internal caller (the
    disclosure rule), never anything about an outside caller."""

    id: str
    folder: Literal["INBOX", "Old"]
    received_at: int  # epoch seconds
    urgent: bool
    caller_digits: str | None


# --- requests (the driver answers each with the type named in its docstring) ------------------------

@dataclass(frozen=True)
class Login:
    """Check ``pin`` for ``mailbox`` (digits, or ``box@context``). -> ``LoginOutcome``, with the mailbox's
    new and old messages when signed in (one request: the caller hears the count at once)."""

    mailbox: str
    pin: str


@dataclass(frozen=True)
class LoginOutcome:
    ok: bool
    timezone: str = "UTC"
    new: tuple[MessageInfo, ...] = ()  # INBOX, oldest first (as ListMessages)
    old: tuple[MessageInfo, ...] = ()


@dataclass(frozen=True)
class ListMessages:
    """-> ``tuple[MessageInfo, ...]`` of the signed-in mailbox's folder, oldest first."""

    folder: Literal["INBOX", "Old"]


@dataclass(frozen=True)
class Stage:
    """Decrypt the message's audio to a staging file (audited as a play). -> the sound path to stream
    (absolute, without extension), or None when it cannot be played now."""

    message_id: str


@dataclass(frozen=True)
class Unstage:
    """Remove the staging file of ``message_id`` (also done by the driver when the call ends). -> None"""

    message_id: str


@dataclass(frozen=True)
class Heard:
    """The new message was played (to its end, or until a key): like VoiceMailMain, it moves to Old when
    the call ends, however it ends, unless it was saved or deleted meanwhile. -> None"""

    message_id: str


@dataclass(frozen=True)
class Save:
    """Move the message to Old (through the mailbox services). -> bool (done)"""

    message_id: str


@dataclass(frozen=True)
class Delete:
    """Delete the message (crypto-shred, or hide when held). -> bool (done)"""

    message_id: str


@dataclass(frozen=True)
class CheckNewPin:
    """-> None when ``pin`` is acceptable as the new PIN, else the reason (text, for the audit/log)."""

    pin: str


@dataclass(frozen=True)
class ChangePin:
    """-> bool (stored)"""

    pin: str


@dataclass(frozen=True)
class RecordTarget:
    """-> the path (without extension) RECORD FILE should write a new ``greeting`` to (a scratch name
    beside the real one; the driver removes it when the call ends unless kept)."""

    greeting: Greeting


@dataclass(frozen=True)
class KeepGreeting:
    """Make the last recording of ``greeting`` the one Asterisk plays. -> bool"""

    greeting: Greeting


@dataclass(frozen=True)
class GreetingExists:
    """-> bool"""

    greeting: Greeting


@dataclass(frozen=True)
class RemoveGreeting:
    """-> bool"""

    greeting: Greeting


# --- extension mobility (``hotdesk.py``), for the device the dialplan named -------------------------

@dataclass(frozen=True)
class DeskStatus:
    """-> ``DeskState``: what the device has now."""


@dataclass(frozen=True)
class DeskState:
    extension: str | None


@dataclass(frozen=True)
class DeskSignIn:
    """Check the PIN and, when right, route ``extension`` to the device. -> str: ok / wrong / locked /
    unknown / error."""

    extension: str
    pin: str


@dataclass(frozen=True)
class DeskSignOut:
    """-> bool (done)"""


Request = (Login | ListMessages | Stage | Unstage | Heard | Save | Delete | CheckNewPin | ChangePin | RecordTarget
           | KeepGreeting | GreetingExists | RemoveGreeting | DeskStatus | DeskSignIn | DeskSignOut)
Out = Command | Request
