"""Custody must not depend on the caller fields: what to take from an envelope the strict parser refuses.

``parse_envelope`` refuses a ``msgNNNN.txt`` with a doubled key, a line that is not ``key=value`` or a
missing required key, and it must: a caller name carrying a line feed could otherwise smuggle in keys.
But such a message still holds a caller's audio in the spool, so custody takes what it needs from the
keys Asterisk writes AFTER ``callerid=`` (app_voicemail writes origmailbox, context, exten, rdnis,
priority, callerchan, callerid, origdate, origtime, category, msg_id, flag, then duration last). Any
line a caller smuggled in through ``callerid=`` comes before Asterisk's own ``origtime``, ``msg_id``,
``flag`` and ``duration`` lines, so the LAST occurrence of those is Asterisk's. Everything the caller
could have touched is dropped: the salvaged envelope has no caller id and no context, so the caller is
an unknown outside caller. The file must still be complete (end with a newline, carry a duration).
"""

from __future__ import annotations

import re

from voicemail.domain.errors import MalformedEnvelope
from voicemail.domain.models import MSG_ID, Envelope
from voicemail.spool.envelope import MAX_ENVELOPE_BYTES, parse_envelope

_AFTER_CALLER = ("origtime", "msg_id", "flag", "duration")
_BEFORE_CALLER = ("origmailbox", "exten")
_ORIGTIME = re.compile(r"^[0-9]{1,12}$")
_DURATION = re.compile(r"^[0-9]{1,9}$")


def salvage_envelope(data: bytes) -> Envelope:
    """The custody fields of an envelope ``parse_envelope`` refused; MalformedEnvelope if even they are
    missing or invalid (never naming a value from the file)."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise MalformedEnvelope(f"envelope larger than {MAX_ENVELOPE_BYTES} bytes")
    if not data.endswith(b"\n"):
        raise MalformedEnvelope("envelope is truncated (last line has no newline)")
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    in_message = False
    for raw in data.decode("utf-8", errors="replace").split("\n")[:-1]:
        line = raw.rstrip("\r")
        if not in_message:
            in_message = line.strip() == "[message]"
            continue
        key, sep, value = line.partition("=")
        if not sep or key not in (*_AFTER_CALLER, *_BEFORE_CALLER):
            continue  # other sections' lines, the caller's broken line, comments: not needed for custody
        first.setdefault(key, value.strip())
        last[key] = value.strip()
    if not in_message:
        raise MalformedEnvelope("envelope lacks the [message] section")
    msg_id, origtime, duration = last.get("msg_id", ""), last.get("origtime", ""), last.get("duration", "")
    if not MSG_ID.match(msg_id):
        raise MalformedEnvelope("envelope has no valid 'msg_id' even where Asterisk writes it")
    if not _ORIGTIME.match(origtime) or not _DURATION.match(duration):
        raise MalformedEnvelope("envelope has no valid 'origtime' / 'duration' even where Asterisk writes them")
    return Envelope(msg_id=msg_id, origmailbox=first.get("origmailbox", ""), context="", exten=first.get("exten", ""),
                    callerid="", origtime=int(origtime), duration=int(duration), flag=last.get("flag", ""))


def read_envelope(data: bytes) -> tuple[Envelope, str]:
    """The envelope and "" when it parses; else the salvaged envelope and why the parser refused it (the
    reason names a key, never a value). The parser's MalformedEnvelope when neither works."""
    try:
        return parse_envelope(data), ""
    except MalformedEnvelope as exc:
        try:
            return salvage_envelope(data), str(exc)
        except MalformedEnvelope:
            raise exc from None
