"""Simple phone-number normalisation shared by every directory and by the classifier."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-.()/]")
_NUMBER = re.compile(r"^\+?[0-9]{1,20}$")


def normalize_number(raw: str) -> str | None:
    """Strip spaces, dashes, dots, slashes and parentheses; keep one leading '+'; digits only otherwise.

    Returns None for anything that is not then a plain number (letters, '*', '#', a '+' inside, empty).
    """
    if not isinstance(raw, str):
        return None
    compact = _SEPARATORS.sub("", raw)
    return compact if _NUMBER.match(compact) else None
