"""Which PINs a mailbox may have (pure).

A PIN is digits only, at least ``min_length`` long (and at most 20), and not trivial: not one digit
repeated (``1111``), not an ascending or descending run (``1234``, ``9876``, wrapping ``8901`` too), not
the mailbox number itself (nor the mailbox number reversed).
"""

from __future__ import annotations

import itertools

MAX_LENGTH = 20


def trivial_reason(pin: str, mailbox: str) -> str | None:
    """Why ``pin`` is trivial for ``mailbox``, or None."""
    if len(set(pin)) == 1:
        return "one digit repeated"
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    if steps == {1}:
        return "ascending digits"
    if steps == {9}:
        return "descending digits"
    if pin == mailbox or pin == mailbox[::-1]:
        return "the mailbox number"
    return None


def refusal(pin: str, mailbox: str, min_length: int) -> str | None:
    """Why ``pin`` may not be set (a sentence for the person setting it), or None when it is fine."""
    if not pin.isdigit() or not pin.isascii():
        return "a PIN is digits only"
    if len(pin) < min_length:
        return f"a PIN needs at least {min_length} digits"
    if len(pin) > MAX_LENGTH:
        return f"a PIN has at most {MAX_LENGTH} digits"
    why = trivial_reason(pin, mailbox)
    return f"too easy to guess ({why})" if why else None
