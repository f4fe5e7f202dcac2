"""The hash chain of audit events: canonical encoding, hashing and replay (pure, no I/O).

Each event carries ``prev_hash`` (the hash of the event before it; 64 zeros for the first of a chain)
and ``hash`` = SHA-256 over the canonical JSON of every other field, ``seq`` and ``prev_hash``
included. Changing, deleting, reordering or truncating events breaks the chain at an exact sequence.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64
OUTCOMES = ("ok", "denied", "error")


@dataclass(frozen=True)
class AuditEvent:
    """What happened, before it is placed in the chain (no seq, no hashes yet)."""

    actor: str
    action: str
    outcome: str = "ok"
    source: str = ""  # from where: host name, IP address, "cli@host"
    reason: str = ""
    case_id: str | None = None
    request_ref: str | None = None
    message_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChainedEvent:
    """One stored audit record."""

    seq: int
    at: str  # ISO 8601 UTC, microseconds
    actor: str
    action: str
    outcome: str
    source: str
    reason: str
    case_id: str | None
    request_ref: str | None
    message_id: str | None
    details: str  # canonical JSON text
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        # every field is a plain value: no recursive copy needed (dataclasses.asdict deep-copies, slowly)
        return {"seq": self.seq, "at": self.at, "actor": self.actor, "action": self.action, "outcome": self.outcome,
                "source": self.source, "reason": self.reason, "case_id": self.case_id,
                "request_ref": self.request_ref, "message_id": self.message_id, "details": self.details,
                "prev_hash": self.prev_hash, "hash": self.hash}


def canonical_details(details: Mapping[str, Any]) -> str:
    return json.dumps(dict(details), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def event_hash(seq: int, at: str, event: AuditEvent | ChainedEvent, prev_hash: str, details: str) -> str:
    """SHA-256 hex over the canonical form of one record (everything but its own hash)."""
    body = {
        "seq": seq, "at": at, "actor": event.actor, "action": event.action, "outcome": event.outcome,
        "source": event.source, "reason": event.reason, "case_id": event.case_id,
        "request_ref": event.request_ref, "message_id": event.message_id, "details": details,
        "prev_hash": prev_hash,
    }
    data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return hashlib.sha256(data).hexdigest()


def chain(event: AuditEvent, seq: int, at: str, prev_hash: str) -> ChainedEvent:
    """Place ``event`` after a record whose hash is ``prev_hash``."""
    if event.outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {event.outcome!r}")
    details = canonical_details(event.details)
    digest = event_hash(seq, at, event, prev_hash, details)
    return ChainedEvent(seq, at, event.actor, event.action, event.outcome, event.source, event.reason,
                        event.case_id, event.request_ref, event.message_id, details, prev_hash, digest)


@dataclass(frozen=True)
class Anchor:
    """A point the chain must pass through: a checkpoint (seq, head hash) that was verified."""

    seq: int
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    last_seq: int
    first_bad: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def replay(events: Iterable[ChainedEvent], anchors: Iterable[Anchor] = (), *, start: Anchor | None = None,
           head: Anchor | None = None) -> VerifyResult:
    """Walk the events in ``seq`` order and report the first bad sequence number.

    ``start``: where the retained chain begins (seq and hash of the last removed record; default the
    genesis before seq 1). ``anchors``: verified checkpoints the chain must pass through. ``head``: the
    chain head the database claims (its own head row), checked like an anchor.
    """
    base = start or Anchor(0, GENESIS)
    expect_seq, prev = base.seq + 1, base.hash
    marks: dict[int, str] = {}
    for a in [*anchors, *([head] if head else [])]:
        if a.seq > base.seq:
            marks.setdefault(a.seq, a.hash)  # signed checkpoints come first and win over the head row
    checked = 0
    for ev in events:
        if ev.seq != expect_seq:
            if ev.seq > expect_seq:
                return VerifyResult(checked, expect_seq - 1, expect_seq, f"sequence {expect_seq} is missing")
            return VerifyResult(checked, expect_seq - 1, expect_seq,
                                f"sequence {expect_seq} expected, found {ev.seq} (reordered or duplicated)")
        if ev.prev_hash != prev:
            return VerifyResult(checked, ev.seq - 1, ev.seq, f"sequence {ev.seq} does not follow its predecessor")
        if event_hash(ev.seq, ev.at, ev, ev.prev_hash, ev.details) != ev.hash:
            return VerifyResult(checked, ev.seq - 1, ev.seq, f"sequence {ev.seq} was altered")
        if ev.seq in marks and marks[ev.seq] != ev.hash:
            return VerifyResult(checked, ev.seq - 1, ev.seq, f"sequence {ev.seq} differs from a signed checkpoint")
        checked += 1
        prev = ev.hash
        expect_seq += 1
    last = expect_seq - 1
    beyond = [s for s in marks if s > last]
    if beyond:
        return VerifyResult(checked, last, last + 1,
                            f"sequence {last + 1} is missing (the chain was checkpointed up to {max(beyond)})")
    return VerifyResult(checked, last)
