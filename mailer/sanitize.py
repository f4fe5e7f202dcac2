"""Make caller-controlled (and other untrusted) text safe to show on one line.

Caller names and numbers come from caller ID and the directory: treat them as hostile. The result of
``one_line`` has no control characters (so no CR/LF header injection and no NUL), no bidi or other
invisible format characters (no U+202E "right-to-left override" tricks), no runs of whitespace, and a
bounded length. HTML escaping is a separate step, done where the text goes into markup.
"""

from __future__ import annotations

import re
import unicodedata

# Work on a bounded prefix only: a 10 kB caller name costs no more than a short one.
_MAX_SCAN = 1024
_ELLIPSIS = "…"
# Characters we turn into a plain space before dropping the rest of category C.
_SPACE_LIKE = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029")
_NUMBER_CHARS = re.compile(r"[^0-9+*#]")
# RFC 5322 dot-atom local part and an LDH domain with at least two labels; ASCII only.
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)


def _keep(char: str) -> str:
    if char in _SPACE_LIKE:
        return " "
    category = unicodedata.category(char)
    if category.startswith("Z"):  # every kind of Unicode space -> one ordinary space
        return " "
    if category.startswith("C"):  # Cc control, Cf format (bidi, zero-width), Cs, Co, Cn
        return ""
    return char


def one_line(value: str | None, limit: int) -> str:
    """Return ``value`` as a single printable line of at most ``limit`` characters ("" for None)."""
    if limit < 1:
        raise ValueError("limit must be positive")
    if not value:
        return ""
    text = value[:_MAX_SCAN]
    if not (text.isascii() and text.isprintable()):  # printable ASCII (the usual case) has nothing to drop
        text = "".join(_keep(char) for char in unicodedata.normalize("NFC", text))
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + _ELLIPSIS
    return text


def phone_number(value: str | None, limit: int = 32) -> str:
    """A number as shown to the owner: digits, ``+``, ``*`` and ``#`` only, bounded."""
    if not value:
        return ""
    cleaned = _NUMBER_CHARS.sub("", unicodedata.normalize("NFKC", value[:_MAX_SCAN]))
    return cleaned[:limit]


def has_control(value: str) -> bool:
    """True when ``value`` holds anything ``one_line`` would remove or change (for settings checks)."""
    return any(char != " " and _keep(char) != char for char in value)



def is_plain_address(value: str) -> bool:
    """True for a bare ASCII addr-spec ``local@domain.tld`` (no display name, quoting or spaces)."""
    return isinstance(value, str) and len(value) <= 254 and _ADDRESS.fullmatch(value) is not None
