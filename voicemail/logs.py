"""Logging of every `voicemail` process: one handler on stderr, text or JSON lines, always redacted.

``log_format = "text"``: ``time LEVEL logger: message`` on one line; control characters (newlines,
carriage returns, bidi overrides) in a message are escaped, so a caller-controlled value cannot forge a
second line. ``log_format = "json"``: one JSON object a line with ``time`` (UTC, ISO 8601), ``level``,
``logger``, ``message``, ``process``, ``exception`` (when there is one) and the record's ``extra=``
fields. Both pass voicemail.log_redaction.RedactionFilter first.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import IO, Any

from voicemail.log_redaction import STANDARD_ATTRS, RedactionFilter

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that come with handlers of their own (uvicorn's dictConfig); adopt() routes them through ours.
THIRD_PARTY = ("uvicorn", "uvicorn.error", "uvicorn.access")
NOISE = frozenset({"color_message"})  # uvicorn's copy of the message with terminal colours
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(text: str) -> str:
    """One physical line: newline, tab and other control / bidi characters as visible escapes."""
    text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.message = _escape(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_text:  # the traceback keeps its lines, each indented: no line of it looks like a record
            line += "\n" + "\n".join("    " + _escape(part) for part in record.exc_text.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_text:
            out["exception"] = record.exc_text
        for key, value in vars(record).items():
            if key not in STANDARD_ATTRS and not key.startswith("_") and key not in out and key not in NOISE:
                out[key] = value
        line = json.dumps(out, ensure_ascii=False, default=str, separators=(",", ":"))
        return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", line)  # line / bidi separators as escapes


def make_handler(fmt: str, stream: IO[str] | None = None) -> logging.Handler:
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (text or json)")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactionFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    return handler


def setup_logging(level: str, fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Replace the root logger's handlers by one redacting handler (idempotent: call it again freely)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(make_handler(fmt, stream))
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings (e.g. Celery's) become records of py.warnings, redacted too
    adopt()


def adopt(*names: str) -> None:
    """Route loggers that brought their own handlers (uvicorn's) through the root's redacting handler."""
    for name in names or THIRD_PARTY:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
