"""The building blocks of the menu's dialogue: play prompts, wait for a key, read digits (pure generators).

Every helper yields ``Command`` values and receives ``AgiReply`` values. A reply that says the channel is
gone (``result=-1``, ``511``) or that is not an AGI reply at all raises ``CallEnded``: the menu stops
where it is and the driver cleans up. A key pressed during a prompt ends the prompt sequence (the way
``ast_play_and_wait`` chains do in app_voicemail) and is returned.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from voicemail.phone import agi
from voicemail.phone.agi import AgiReply
from voicemail.phone.effects import Command, Out, Request

T = TypeVar("T")
Flow = Generator[Out, Any, T]


class CallEnded(Exception):
    """The caller hung up, Asterisk ended the AGI session, or a reply made no sense."""


@dataclass(frozen=True)
class MenuSettings:
    """Timings and limits of the menu (from Settings, see ``voicemail.phone.wiring``)."""

    digit_timeout_ms: int = 5000  # GET DATA: time for each digit of a mailbox / PIN
    menu_wait_ms: int = 6000  # after a menu prompt (app_voicemail waits 6 s)
    menu_repeats: int = 3  # prompts played before a silent caller is told goodbye
    max_logins: int = 3  # wrong mailbox / PIN entries per call
    max_digits: int = 20  # mailbox and PIN length limit (a PIN has at most 20 digits, see pin_policy)
    skip_ms: int = 3000  # fast-forward / rewind step while a message plays
    record_max_ms: int = 60000  # longest greeting
    record_silence_s: int = 5  # a greeting recording stops after this much silence
    record_format: str = "wav"  # format greetings are recorded in (the first of voicemail.conf's format=)
    datetime_format: str = "'vm-received' q 'digits/at' IMp"  # app_voicemail's English envelope


def command(text: str) -> Flow[AgiReply]:
    reply = yield Command(text)
    if not isinstance(reply, AgiReply) or reply.hung_up or reply.code != 200:
        raise CallEnded(reply.text if isinstance(reply, AgiReply) else "no reply")
    return reply


def request(req: Request, kind: type[T]) -> Flow[T]:
    """Ask the driver; the answer must be of ``kind`` (None allowed when ``kind`` is type(None))."""
    answer = yield req
    if not isinstance(answer, kind):
        raise CallEnded(f"unexpected answer to {type(req).__name__}")
    return answer


def play(texts: Sequence[str]) -> Flow[str | None]:
    """Run prompt commands in order until one is interrupted by a key; return that key or None."""
    for text in texts:
        reply = yield from command(text)
        if reply.key is not None:
            return reply.key
    return None


def ask(texts: Sequence[str], settings: MenuSettings) -> Flow[str | None]:
    """Prompts, then WAIT FOR DIGIT: the key pressed, or None when nothing was."""
    key = yield from play(texts)
    if key is not None:
        return key
    reply = yield from command(agi.wait_for_digit(settings.menu_wait_ms))
    return reply.key


def choose(texts: Sequence[str], settings: MenuSettings) -> Flow[str | None]:
    """``ask`` up to ``menu_repeats`` times; None means the caller stayed silent all along."""
    for _ in range(settings.menu_repeats):
        key = yield from ask(texts, settings)
        if key is not None:
            return key
    return None


def get_digits(sound: str, settings: MenuSettings) -> Flow[str]:
    """GET DATA: the digits entered ('' on a timeout with nothing pressed). ``*`` and ``#`` are dropped."""
    reply = yield from command(agi.get_data(sound, settings.digit_timeout_ms, settings.max_digits))
    return "".join(c for c in reply.digits if c.isdigit())


def sounds(*names: str) -> list[str]:
    return [agi.stream_file(n) for n in names]


def goodbye() -> Flow[None]:
    """vm-goodbye, then HANGUP (whatever the caller presses)."""
    yield from command(agi.stream_file("vm-goodbye", ""))
    yield from command(agi.hangup())
