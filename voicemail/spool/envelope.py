"""Parse app_voicemail's ``msgNNNN.txt`` (the message envelope) and the caller id it records.

The file is written by Asterisk (captures: ``msg0000.txt``, ``spool-*.txt``)::

    ;
    ; Message Information file
    ;
    [message]
    origmailbox=1001
    context=vmlab
    ...
    callerid="Alice Internal" <1001>
    ...
    msg_id=1795978545-00000000
    flag=
    duration=3

Every line ends with ``\\n`` and ``duration`` is written last, so a file cut anywhere is rejected: either
its last line has no newline, or a required key is missing. The caller id is caller-controlled and
hostile: it is kept raw in the Envelope, and no error message ever repeats any value from the file.
"""

from __future__ import annotations

import re

from voicemail.domain.errors import MalformedEnvelope
from voicemail.domain.models import MSG_ID, Envelope

MAX_ENVELOPE_BYTES = 64 * 1024

_SECTION = "message"
_REQUIRED_TEXT = ("origmailbox", "context", "exten", "callerid")
_OPTIONAL_TEXT = ("flag", "callerchan", "origdate", "category", "rdnis", "priority")
_KNOWN = frozenset(("msg_id", "origtime", "duration", *_REQUIRED_TEXT, *_OPTIONAL_TEXT))
# Values compared for trust are kept byte for byte: ``context`` decides who may be internal, and
# "vm-internal " or "vm-internal\r" is not the trusted context "vm-internal".
_EXACT = frozenset(("context",))
_ORIGTIME = re.compile(r"^[0-9]{1,12}$")
_DURATION = re.compile(r"^[0-9]{1,9}$")


def parse_envelope(data: bytes) -> Envelope:
    """Parse the bytes of a msgNNNN.txt; raise MalformedEnvelope (naming the key, never a value)."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise MalformedEnvelope(f"envelope larger than {MAX_ENVELOPE_BYTES} bytes")
    if not data:
        raise MalformedEnvelope("envelope is empty")
    if not data.endswith(b"\n"):
        raise MalformedEnvelope("envelope is truncated (last line has no newline)")
    fields = _message_section(data.decode("utf-8", errors="replace"))

    def text(key: str) -> str:
        if key not in fields:
            raise MalformedEnvelope(f"envelope lacks required key {key!r}")
        return fields[key]

    msg_id = text("msg_id")
    if not MSG_ID.match(msg_id):
        raise MalformedEnvelope("envelope key 'msg_id' is not a valid Asterisk message id")
    origtime = text("origtime")
    if not _ORIGTIME.match(origtime):
        raise MalformedEnvelope("envelope key 'origtime' is not a non-negative integer")
    duration = text("duration")
    if not _DURATION.match(duration):
        raise MalformedEnvelope("envelope key 'duration' is not a non-negative integer")
    return Envelope(
        msg_id=msg_id,
        origmailbox=text("origmailbox"),
        context=text("context"),
        exten=text("exten"),
        callerid=text("callerid"),
        origtime=int(origtime),
        duration=int(duration),
        flag=fields.get("flag", ""),
        callerchan=fields.get("callerchan", ""),
        origdate=fields.get("origdate", ""),
        category=fields.get("category", ""),
        rdnis=fields.get("rdnis", ""),
        priority=fields.get("priority", ""),
    )


def _message_section(text: str) -> dict[str, str]:
    """The known keys of the ``[message]`` section. Unknown keys and other sections are ignored.

    A known key given twice is refused: a caller id carrying a newline could otherwise smuggle in a
    second ``msg_id=`` or ``flag=`` line.
    """
    fields: dict[str, str] = {}
    section: str | None = None
    seen_message = False
    for lineno, raw in enumerate(text.split("\n")[:-1], start=1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
            if section == _SECTION:
                if seen_message:
                    raise MalformedEnvelope("envelope has more than one [message] section")
                seen_message = True
            continue
        if section != _SECTION:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise MalformedEnvelope(f"envelope line {lineno} in [message] is not key=value")
        written_key, key = key, key.strip()
        if key not in _KNOWN:
            continue
        if key in fields:
            raise MalformedEnvelope(f"envelope repeats key {key!r}")
        if key in _EXACT:  # exactly as Asterisk wrote it: no whitespace or CR trimmed, on either side of "="
            fields[key] = raw.partition("=")[2] if written_key == key else raw
        else:
            fields[key] = value.strip()
    if not seen_message:
        raise MalformedEnvelope("envelope lacks the [message] section")
    return fields


# --- caller id --------------------------------------------------------------------------------------

# Words Asterisk and carriers use for "no caller id"; compared case-insensitively.
_ABSENT = frozenset(("", "unknown", "anonymous", "restricted", "private", "withheld", "unavailable"))
_PHONE = re.compile(r"^\+?[0-9*#][0-9*# ().\-]{0,39}$")
_ANGLE = re.compile(r"^(?P<name>.*?)\s*<(?P<number>[^<>]*)>\s*$", re.DOTALL)


def parse_callerid(raw: str) -> tuple[str | None, str | None]:
    """Split app_voicemail's ``callerid=`` value into (name, number); absent parts are None.

    Forms (see ast_callerid_merge): ``"Name" <num>``, ``Name <num>``, ``<num>``, a bare number, a bare
    name, ``Unknown`` / empty. A number that does not look like a phone number is dropped (None).
    """
    value = raw.strip()
    match = _ANGLE.match(value)
    if match:
        name = _clean_name(match.group("name"))
        number = _clean_number(match.group("number"))
        return name, number
    if _PHONE.match(value):
        return None, _clean_number(value)
    return _clean_name(value), None


def _clean_name(value: str) -> str | None:
    name = value.strip()
    if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\").strip()
    if name.lower() in _ABSENT:
        return None
    return name


def _clean_number(value: str) -> str | None:
    number = value.strip()
    if number.lower() in _ABSENT or not _PHONE.match(number):
        return None
    return number
