"""The redaction filter every log record passes before it is written (text or JSON).

Code in this project never hands caller data to a logger on purpose; this filter is the second line
of defence for what slips through (an exception text quoting a caller id, a value in ``extra=``):

* runs of 7 or more digits, with the separators phone numbers are written with (``+ ( ) - . /`` and
  spaces, any script's digits), become ``[number]``: outside numbers, but also long counts and
  timestamps written without separators; dates, times, UUIDs, hex digests, IPv4 addresses, Asterisk
  msg_ids (``1795978545-0000002a``) and decimals (``0.0123456``) are kept;
* an Asterisk caller id (``"Name" <number>``, ``callerid=…``) becomes ``[callerid]``;
* PEM blocks and long base64 / hex runs that are not digests become ``[key]``;
* ``bytes`` (audio, keys) become ``[N bytes]``; a domain ``Caller`` becomes ``[internal caller]`` or
  ``[outside caller]``;
* ``extra=`` fields whose name says caller, number, name, key, secret, token, password, audio or
  envelope become ``[redacted]``; a SQL error's ``[parameters: …]`` dump is dropped.

The message is formatted (``msg % args``) here, once, and the record's args cleared, so no formatter
can re-insert an unredacted argument.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

REDACTED = "[redacted]"
NUMBER = "[number]"
SENSITIVE_KEY = re.compile(r"caller|number|phone|name|key|secret|token|passw|audio|envelope|dek|kek|pin\b|cid",
                           re.IGNORECASE)
# The LogRecord's own attributes: never treated as extra= fields.
STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL)
_CALLERID = re.compile(r"\"[^\"\n]*\"\s*<[^>\n]*>|callerid\s*[=:]\s*[^\n,;'\"]*", re.IGNORECASE)
_SQL_PARAMS = re.compile(r"\[parameters: .*?\](?=\s*(?:\n|\(Background|$))", re.DOTALL)
# Kept as they are: UUIDs, hex digests (32+), ISO dates and times, IPv4 addresses, Asterisk msg_ids, decimals.
_KEEP = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|\b[0-9a-fA-F]{32,128}\b"
    r"|\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?"
    r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"
    r"|\b\d{9,11}-[0-9a-fA-F]{8}\b"  # Asterisk's msg_id: epoch seconds - hex counter ("%ld-%08x")
    r"|(?<![\d.])\d{1,6}\.\d+(?![\d.])")  # a decimal (durations), not a dotted phone number
_SECRETISH = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{40,}={0,2}(?![A-Za-z0-9+/=_-])")
_DIGITS = re.compile(r"(?:\+|\b|(?<=\())[\d()][\d\s()./+-]*\d")


def _count_digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _numbers(text: str) -> str:
    return _DIGITS.sub(lambda m: NUMBER if _count_digits(m.group()) >= 7 else m.group(), text)


def _secretish(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        token = m.group()
        return token if re.fullmatch(r"[0-9a-fA-F]+", token) and len(token) in (32, 40, 64, 128) else "[key]"
    return _SECRETISH.sub(repl, text)


def redact_text(text: str) -> str:
    """Scrub one string (a formatted message, an exception text, a field value)."""
    text = _PEM.sub("[key]", text)
    text = _SQL_PARAMS.sub("[parameters: redacted]", text)
    text = _CALLERID.sub("[callerid]", text)
    out: list[str] = []
    last = 0
    for kept in _KEEP.finditer(text):  # scrub between the kept tokens, leave those as they are
        out.append(_numbers(_secretish(text[last:kept.start()])))
        out.append(kept.group())
        last = kept.end()
    out.append(_numbers(_secretish(text[last:])))
    return "".join(out)


def redact_value(value: Any) -> Any:
    """An argument or extra= value, made safe: bytes and callers by a placeholder, strings scrubbed."""
    from voicemail.domain.models import Caller, CallerKind

    if isinstance(value, bytes | bytearray | memoryview):
        return f"[{len(value)} bytes]"
    if isinstance(value, Caller):
        return "[internal caller]" if value.kind is CallerKind.INTERNAL else "[outside caller]"
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return NUMBER if _count_digits(str(value)) >= 7 else value
    if isinstance(value, dict):
        return {str(k): (REDACTED if SENSITIVE_KEY.search(str(k)) else redact_value(v)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    return redact_text(str(value))


def _opaque(value: Any) -> Any:
    """A format argument: bytes and callers by their placeholder; the rest as is (scrubbed once formatted)."""
    from voicemail.domain.models import Caller

    return redact_value(value) if isinstance(value, bytes | bytearray | memoryview | Caller) else value


class RedactionFilter(logging.Filter):
    """Attach to a handler: every record it writes is scrubbed first (see the module's docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_opaque(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _opaque(v) for k, v in record.args.items()}
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line (nor show its arguments)
            message = f"{record.msg!s} [unformattable arguments]"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for key in [k for k in vars(record) if k not in STANDARD_ATTRS and not k.startswith("_")]:
            value = getattr(record, key)
            setattr(record, key, REDACTED if SENSITIVE_KEY.search(key) else redact_value(value))
        return True
