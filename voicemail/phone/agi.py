"""AGI commands as text, and AGI replies as values (pure; what captures q9, q9b, q9c show).

* ``200 result=4242`` - GET DATA digits (the terminating ``#`` is not in it);
  ``200 result= (timeout)`` - GET DATA with nothing pressed; ``200 result=12 (timeout)`` - some digits,
  then the timeout.
* ``200 result=55 endpos=16000`` - an interrupted STREAM FILE: the ASCII code of the digit; endpos in
  samples (STREAM FILE) or milliseconds (CONTROL STREAM FILE).
* ``200 result=0`` - played to the end / WAIT FOR DIGIT timed out; ``200 result=-1 ...`` - the channel
  hung up (or a file was missing: the Async AGI session then ends).
* ``511 Command Not Permitted on a dead channel ...``, ``510 Invalid or unknown command``,
  ``520 ...`` usage errors.

Arguments are quoted the way res_agi's ``parse_args`` reads them: double quotes group, a backslash
escapes the next character. Nothing a caller typed ever goes into a command unchecked: digits are
checked by the menu, paths are built by the staging adapter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALL_KEYS = "0123456789*#"
_REPLY = re.compile(r"^(?P<code>\d{3})(?:[ -](?P<rest>.*))?$", re.S)
_RESULT = re.compile(r"^result=(?P<value>-?[0-9*#]*)(?P<tail>.*)$", re.S)
_ENDPOS = re.compile(r"\bendpos=(?P<pos>-?\d+)")
_PAREN = re.compile(r"\((?P<data>[^)]*)\)")


@dataclass(frozen=True)
class AgiReply:
    """One AGI reply. ``value`` is the text after ``result=`` ('' when empty); ``data`` the text in
    parentheses (``timeout``, a variable's value, ``dtmf``, ``hangup``); ``endpos`` when present."""

    code: int
    value: str = ""
    data: str | None = None
    endpos: int | None = None
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def number(self) -> int | None:
        try:
            return int(self.value)
        except ValueError:
            return None

    @property
    def hung_up(self) -> bool:
        """The channel is gone (result -1, or 511 dead channel), or the command could not run at all."""
        return self.code == 511 or (self.code == 200 and self.number == -1)

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"

    @property
    def key(self) -> str | None:
        """The key that interrupted a STREAM FILE / WAIT FOR DIGIT / SAY ... (result = its ASCII code)."""
        n = self.number
        if n is None or n <= 0 or self.code != 200:
            return None
        c = chr(n) if n < 128 else ""
        return c if c and c in ALL_KEYS else None

    @property
    def digits(self) -> str:
        """GET DATA: the digits entered (possibly before a timeout); '' for none."""
        if self.code != 200 or self.number == -1:
            return ""
        return "".join(c for c in self.value if c in ALL_KEYS)


def parse_reply(line: str) -> AgiReply:
    """Parse one decoded ``AsyncAGIExec`` ``Result`` (trailing newline allowed). Never raises: text that
    is not an AGI reply becomes code 0 (treated like a failure by the menu)."""
    text = line.strip("\r\n")
    match = _REPLY.match(text)
    if match is None:
        return AgiReply(0, text=text[:200])
    code = int(match.group("code"))
    rest = match.group("rest") or ""
    result = _RESULT.match(rest)
    if code != 200 or result is None:
        return AgiReply(code, text=text[:200])
    tail = result.group("tail")
    endpos = _ENDPOS.search(tail)
    paren = _PAREN.search(tail)
    return AgiReply(code, result.group("value"), paren.group("data") if paren else None,
                    int(endpos.group("pos")) if endpos else None, text[:200])


def quote(arg: str) -> str:
    """One argument for res_agi: always in double quotes, ``"`` and ``\\`` escaped; CR/LF refused."""
    if any(c in arg for c in "\r\n\0"):
        raise ValueError("an AGI argument cannot hold CR, LF or NUL")
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sound(name: str) -> str:
    if not name or any(c in name for c in ' "\\\r\n\0'):
        raise ValueError(f"not a sound name: {name[:40]!r}")
    return name


# --- the commands the menu uses --------------------------------------------------------------------

def stream_file(sound: str, escape: str = ALL_KEYS) -> str:
    return f"STREAM FILE {_sound(sound)} {quote(escape)}"


def control_stream_file(sound: str, escape: str, skip_ms: int, forward: str, rewind: str, pause: str) -> str:
    return (f"CONTROL STREAM FILE {_sound(sound)} {quote(escape)} {int(skip_ms)} {quote(forward)} "
            f"{quote(rewind)} {quote(pause)}")


def get_data(sound: str, timeout_ms: int, max_digits: int) -> str:
    return f"GET DATA {_sound(sound)} {int(timeout_ms)} {int(max_digits)}"


def wait_for_digit(timeout_ms: int) -> str:
    return f"WAIT FOR DIGIT {int(timeout_ms)}"


def say_number(number: int, escape: str = ALL_KEYS) -> str:
    return f"SAY NUMBER {int(number)} {quote(escape)}"


def say_digits(digits: str, escape: str = ALL_KEYS) -> str:
    if not digits.isdigit():
        raise ValueError("SAY DIGITS takes digits only")
    return f"SAY DIGITS {digits} {quote(escape)}"


def say_datetime(epoch: int, fmt: str, timezone: str, escape: str = ALL_KEYS) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]{1,64}", timezone):
        raise ValueError("not a time zone name")
    return f"SAY DATETIME {int(epoch)} {quote(escape)} {quote(fmt)} {timezone}"


def record_file(path: str, fmt: str, escape: str, timeout_ms: int, silence_s: int) -> str:
    """RECORD FILE with a beep, stopping at ``escape``, after ``timeout_ms`` or ``silence_s`` of silence."""
    if not re.fullmatch(r"[A-Za-z0-9]{1,8}", fmt):
        raise ValueError("not a sound format")
    return f"RECORD FILE {_sound(path)} {fmt} {quote(escape)} {int(timeout_ms)} 0 BEEP s={int(silence_s)}"


def hangup() -> str:
    return "HANGUP"
