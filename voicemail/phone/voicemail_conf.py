"""Read the mailbox PINs of app_voicemail's ``voicemail.conf`` (pure).

A mailbox line in a context section reads ``1001 => 4242,Alice Internal,alice@example.test[,...]``
(``=`` works too). ``[general]`` and ``[zonemessages]`` hold settings, not mailboxes. A password
starting with ``-`` is one the user may not change in VoiceMailMain: the ``-`` is not part of it.
Comments start with ``;``. Only the password is read; names and addresses are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicemail.domain.errors import InvalidMailbox
from voicemail.domain.models import MailboxRef

NOT_MAILBOXES = frozenset({"general", "zonemessages"})


@dataclass(frozen=True)
class ConfPin:
    mailbox: MailboxRef
    pin: str
    line: int


@dataclass(frozen=True)
class ConfProblem:
    line: int
    why: str  # never the PIN


def read_pins(text: str) -> tuple[list[ConfPin], list[ConfProblem]]:
    pins: list[ConfPin] = []
    problems: list[ConfProblem] = []
    section: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and "]" in line:
            section = line[1:line.index("]")].strip()
            continue
        if section is None or section.lower() in NOT_MAILBOXES:
            continue
        key, sep, value = line.partition("=>") if "=>" in line else line.partition("=")
        if not sep:
            problems.append(ConfProblem(number, "not a mailbox line"))
            continue
        password = value.split(",", 1)[0].strip().lstrip("-")
        try:
            ref = MailboxRef(section, key.strip())
        except InvalidMailbox:
            problems.append(ConfProblem(number, "not a valid mailbox or context name"))
            continue
        if not password.isdigit() or not password.isascii():
            problems.append(ConfProblem(number, f"mailbox {ref}: the password is not digits only"))
            continue
        pins.append(ConfPin(ref, password, number))
    return pins, problems
