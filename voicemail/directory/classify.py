"""The rule of DESIGN.md "Who is internal", as one pure function.

A caller is internal only when the call entered Asterisk from a trusted internal context (the
envelope's ``context=``) AND the caller's number resolves to a directory entry. Then the Caller carries
the directory's name, never the caller-supplied one. Everything else - unknown, anonymous, withheld,
malformed, an internal number arriving from a trunk context, a directory that fails - is external,
with no caller data at all. Nothing is logged here.
"""

from __future__ import annotations

from voicemail.domain.models import Caller, CallerKind, Envelope
from voicemail.domain.ports import Directory
from voicemail.spool.envelope import parse_callerid


def classify(envelope: Envelope, internal_contexts: frozenset[str], directory: Directory) -> Caller:
    if envelope.context not in internal_contexts:
        return Caller.external()
    _name, number = parse_callerid(envelope.callerid)
    if number is None:
        return Caller.external()
    try:
        entry = directory.lookup(number)
    except Exception:  # any directory failure must fail closed: the caller is treated as external
        return Caller.external()
    if entry is None or not entry.name.strip() or not entry.number:
        return Caller.external()
    return Caller(kind=CallerKind.INTERNAL, name=entry.name, number=entry.number)
