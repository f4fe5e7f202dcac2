"""The rule of DESIGN.md "Who is internal", as one pure function.

A caller is internal only when the call entered Asterisk from a trusted internal context (the
envelope's ``context=``) AND the caller's number resolves to an enabled directory user. Then the Caller
carries the directory's name, never the caller-supplied one. Everything else - unknown, anonymous,
withheld, malformed, an internal number arriving from a trunk context, a directory that fails or is too
old to be trusted - is external, with no caller data at all. Nothing is logged here (see Classifier).
"""

from __future__ import annotations

import enum

from voicemail.domain.models import Caller, CallerKind, Envelope
from voicemail.domain.ports import Directory
from voicemail.spool.envelope import parse_callerid


class Verdict(enum.Enum):
    """Why a caller was classified as it was (counted and logged; never carries caller data)."""

    INTERNAL = "internal"
    UNTRUSTED_CONTEXT = "untrusted_context"  # a trunk / outside context: caller ID is not trusted
    NO_NUMBER = "no_number"  # anonymous, withheld, unknown or malformed caller ID
    UNKNOWN_NUMBER = "unknown_number"  # no enabled directory user has it (or two do)
    DIRECTORY_UNAVAILABLE = "directory_unavailable"  # the lookup failed: fail closed


def decide(envelope: Envelope, internal_contexts: frozenset[str], directory: Directory) -> tuple[Caller, Verdict]:
    # Exact string equality with the context as Asterisk wrote it (the parser trims nothing from it): no
    # case folding, trimming or unicode normalisation, so "VM-Internal", "vm-internal " or a lookalike
    # letter is a different, untrusted context.
    if envelope.context not in internal_contexts:
        return Caller.external(), Verdict.UNTRUSTED_CONTEXT
    _name, number = parse_callerid(envelope.callerid)
    if number is None:
        return Caller.external(), Verdict.NO_NUMBER
    try:
        entry = directory.lookup(number)
    except Exception:  # any directory failure must fail closed: the caller is treated as external
        return Caller.external(), Verdict.DIRECTORY_UNAVAILABLE
    if entry is None or not entry.name.strip() or not entry.number:
        return Caller.external(), Verdict.UNKNOWN_NUMBER
    return Caller(kind=CallerKind.INTERNAL, name=entry.name, number=entry.number), Verdict.INTERNAL


def classify(envelope: Envelope, internal_contexts: frozenset[str], directory: Directory) -> Caller:
    return decide(envelope, internal_contexts, directory)[0]
