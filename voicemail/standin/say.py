"""Which prompt files say.c plays for SAY NUMBER / SAY DIGITS / SAY DATETIME in English.

Follows ``ast_say_number_full_en``, ``ast_say_digit_str`` and ``ast_say_date_with_format_en`` for the
format letters a voicemail menu uses (A a B b d e Y I l H k M P p R T and quoted file names); the file
sequence of capture q9 (``ABdY 'digits/at' IMp`` for 2026-12-03 14:05 New York) is reproduced exactly.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DATETIME_FORMAT = "ABdY 'digits/at' IMp"
_DIGIT_NAMES = {"*": "digits/star", "#": "digits/pound", "-": "digits/minus"}


def number_files(n: int) -> list[str]:
    """``ast_say_number_full_en``."""
    if n == 0:
        return ["digits/0"]
    files: list[str] = []
    if n < 0:
        files.append("digits/minus")
        n = -n
    while n:
        if n < 20:
            files.append(f"digits/{n}")
            n = 0
        elif n < 100:
            files.append(f"digits/{n - n % 10}")
            n %= 10
        elif n < 1000:
            files += [f"digits/{n // 100}", "digits/hundred"]
            n %= 100
        elif n < 1_000_000:
            files += [*number_files(n // 1000), "digits/thousand"]
            n %= 1000
        elif n < 1_000_000_000:
            files += [*number_files(n // 1000000), "digits/million"]
            n %= 1_000_000
        else:
            files += [*number_files(n // 1000000000), "digits/billion"]
            n %= 1_000_000_000
    return files


def enumeration_files(n: int) -> list[str]:
    """``ast_say_enumeration_full_en`` for 1..99 (days of the month): ``h-3``, ``h-20``, ``20`` + ``h-3``."""
    if n < 20 or n % 10 == 0:
        return [f"digits/h-{n}"]
    return [f"digits/{n - n % 10}", f"digits/h-{n % 10}"]


def digit_files(text: str) -> list[str]:
    """``ast_say_digit_str``: one file per digit; other characters are skipped."""
    out = []
    for c in text:
        if c.isdigit():
            out.append(f"digits/{c}")
        elif c in _DIGIT_NAMES:
            out.append(_DIGIT_NAMES[c])
    return out


_CHARACTERS = {"*": "digits/star", "#": "digits/pound", "!": "letters/exclaimation-point", "@": "letters/at",
               "$": "letters/dollar", "-": "letters/dash", ".": "letters/dot", "=": "letters/equals",
               "+": "letters/plus", "/": "letters/slash", " ": "letters/space"}


def alpha_files(text: str, sensitivity: str = "n") -> list[str]:
    """``ast_get_character_str``: letters, digits and the punctuation say.c names; ``sensitivity``
    ``a``/``u``/``l`` announces "uppercase"/"lowercase" before letters of that case."""
    out: list[str] = []
    for c in text:
        if c in _CHARACTERS:
            out.append(_CHARACTERS[c])
        elif c.isdigit():
            out.append(f"digits/{c}")
        elif c.isascii() and c.isalpha():
            if c.isupper() and sensitivity in "au" and sensitivity:
                out.append("uppercase")
            elif c.islower() and sensitivity in "al" and sensitivity:
                out.append("lowercase")
            out.append(f"letters/{c.lower()}")
        else:
            out.append(f"letters/ascii{ord(c)}")
    return out


def datetime_files(epoch: int, fmt: str = "", tz: str = "") -> list[str]:
    """``ast_say_date_with_format_en`` for the supported format letters."""
    try:
        zone = ZoneInfo(tz) if tz else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    t = datetime.fromtimestamp(epoch, zone)
    fmt = fmt or DEFAULT_DATETIME_FORMAT
    out: list[str] = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == "'":
            end = fmt.find("'", i + 1)
            end = len(fmt) if end < 0 else end
            if end > i + 1:
                out.append(fmt[i + 1:end])
            i = end + 1
            continue
        out += _letter(c, t)
        i += 1
    return out


def _letter(c: str, t: datetime) -> list[str]:
    if c in "Aa":
        return [f"digits/day-{(t.weekday() + 1) % 7}"]
    if c in "Bbh":
        return [f"digits/mon-{t.month - 1}"]
    if c in "de":
        return enumeration_files(t.day)
    if c == "Y":
        return _year(t.year)
    if c in "Il":
        hour = t.hour % 12 or 12
        return [f"digits/{hour}"]
    if c in "Hk":
        files = ["digits/oh"] if (c == "H" and t.hour < 10) or (c == "k" and t.hour == 0) else []
        if t.hour > 20:
            files += ["digits/20", f"digits/{t.hour - 20}"]
        elif t.hour:
            files.append(f"digits/{t.hour}")
        return files
    if c == "M":
        if t.minute == 0:
            return ["digits/oclock"]
        if t.minute < 10:
            return ["digits/oh", f"digits/{t.minute}"]
        return number_files(t.minute)
    if c in "Pp":
        return ["digits/p-m" if t.hour >= 12 else "digits/a-m"]
    if c == "R":
        return _letter("H", t) + _letter("M", t)
    if c == "T":
        return _letter("H", t) + _letter("M", t) + number_files(t.second)
    return []


def _year(year: int) -> list[str]:
    if year > 1999:
        return number_files(year)
    if year <= 1900:
        return []  # say.c stays silent on these
    return ["digits/19", *(["digits/oh"] if year - 1900 <= 9 else []), *number_files(year - 1900)]
