"""AMI output framing, byte for byte as Asterisk 22 writes it.

Every message is ``Key: Value\\r\\n`` lines and a blank ``\\r\\n``. Values are written as Asterisk
writes them; the one deliberate oddity is the bare LF that app_voicemail puts inside the
``Message:`` of VoicemailMove/Remove/Forward replies (``Message: Message move successful\\n\\r\\n``,
capture q2b). Anything else that could break the framing (CR, LF, NUL in a value that came from a
file or a caller) is replaced by a space, so no input can inject a header.
"""

from __future__ import annotations

from dataclasses import dataclass

Headers = list[tuple[str, str]]

# Event privilege categories (manager.c ``perms``); "all" is implied by every event.
CATEGORIES = ("system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf",
              "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security",
              "message")
ALL = frozenset(CATEGORIES)


def _clean(text: str) -> str:
    if "\r" in text or "\n" in text or "\x00" in text:
        return text.replace("\r", " ").replace("\n", " ").replace("\x00", " ")
    return text


def encode(headers: Headers, *, bare_lf_in: str | None = None) -> bytes:
    """Serialise one AMI message. ``bare_lf_in`` names the one header whose value may end in LF."""
    parts: list[str] = []
    for key, value in headers:
        if key == bare_lf_in and value.endswith("\n"):
            parts.append(f"{_clean(key)}: {_clean(value[:-1])}\n\r\n")
        else:
            parts.append(f"{_clean(key)}: {_clean(value)}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8", "replace")


@dataclass(frozen=True)
class Event:
    """One manager event: its category (for the per-session filter) and its encoded bytes."""

    name: str
    category: str
    data: bytes
    headers: tuple[tuple[str, str], ...]


def make_event(name: str, category: str, body: Headers, system_name: str | None) -> Event:
    """``Event: name`` / ``Privilege: category,all`` / ``SystemName`` (unless None) then ``body``."""
    headers: Headers = [("Event", name), ("Privilege", f"{category},all")]
    if system_name is not None:
        headers.append(("SystemName", system_name))
    headers += body
    return Event(name, category, encode(headers), tuple(headers))


def parse_event_mask(text: str) -> frozenset[str] | None:
    """manager.c ``strings_to_mask``: on/yes/true -> all, off/no/false -> none, a number, or a list.

    Returns None when the text is not a valid mask.
    """
    value = text.strip()
    low = value.lower()
    if low in ("on", "yes", "true", "y", "t", "1"):
        return ALL
    if low in ("off", "no", "false", "n", "f", "0", ""):
        return frozenset()
    if value.isdigit():
        bits = int(value)
        return frozenset(c for i, c in enumerate(CATEGORIES) if bits & (1 << i))
    out: set[str] = set()
    for part in low.split(","):
        part = part.strip()
        if part == "all":
            return ALL
        if part in ALL:
            out.add(part)
        elif part:
            return None
    return frozenset(out)
