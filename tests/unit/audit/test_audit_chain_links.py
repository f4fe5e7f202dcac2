"""Replay checks each record's link to its predecessor, not only each record's own hash: a record
edited and re-hashed by someone who can write the table is caught at the record after it."""

from __future__ import annotations

import dataclasses
from typing import TypedDict, Unpack

from voicemail.audit.chain import GENESIS, AuditEvent, ChainedEvent, chain, event_hash, replay


def a_chain(n: int) -> list[ChainedEvent]:
    out: list[ChainedEvent] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        record = chain(AuditEvent(actor="alice", action="audio.play", source="192.0.2.10", message_id=f"m{seq}"),
                       seq, f"2026-12-04T08:00:{seq:02d}.000000Z", prev)
        out.append(record)
        prev = record.hash
    return out


class Edits(TypedDict, total=False):
    actor: str
    outcome: str
    prev_hash: str


def rehashed(record: ChainedEvent, **changes: Unpack[Edits]) -> ChainedEvent:
    edited = dataclasses.replace(record, **changes)
    return dataclasses.replace(edited, hash=event_hash(edited.seq, edited.at, edited, edited.prev_hash,
                                                       edited.details))


def test_an_edited_and_rehashed_record_breaks_the_link_of_the_next_one() -> None:
    events = a_chain(5)
    assert replay(events).ok
    events[2] = rehashed(events[2], actor="mallory")  # own hash is valid again
    result = replay(events)
    assert not result.ok
    assert (result.first_bad, result.problem) == (4, "sequence 4 does not follow its predecessor")


def test_an_edited_and_rehashed_last_record_is_caught_by_the_head() -> None:
    from voicemail.audit.chain import Anchor

    events = a_chain(3)
    head = Anchor(3, events[-1].hash)
    events[-1] = rehashed(events[-1], outcome="denied")
    result = replay(events, head=head)
    assert not result.ok and result.first_bad == 3


def test_a_record_rehashed_onto_a_forged_predecessor_is_caught() -> None:
    events = a_chain(4)
    events[1] = rehashed(events[1], prev_hash="f" * 64)  # claims another predecessor
    result = replay(events)
    assert (result.first_bad, result.problem) == (2, "sequence 2 does not follow its predecessor")


def test_the_hashed_form_of_a_record_is_the_documented_canonical_json() -> None:
    """The record format is a contract with every stored chain and every evidence package verified
    offline: the hash is SHA-256 over exactly these bytes (sorted keys, no spaces, ASCII escapes)."""
    import hashlib

    event = AuditEvent(actor="alice", action="audio.play", source="192.0.2.10", reason="ré", case_id="CI-1",
                       request_ref="REQ-1", message_id="m1", details={"b": 1, "a": "é"})
    record = chain(event, 7, "2026-12-04T08:00:00.000000Z", "a" * 64)
    assert record.details == '{"a":"\\u00e9","b":1}'
    canonical = ('{"action":"audio.play","actor":"alice","at":"2026-12-04T08:00:00.000000Z","case_id":"CI-1",'
                 '"details":"{\\"a\\":\\"\\\\u00e9\\",\\"b\\":1}","message_id":"m1","outcome":"ok",'
                 '"prev_hash":"' + "a" * 64 + '","reason":"r\\u00e9","request_ref":"REQ-1","seq":7,'
                 '"source":"192.0.2.10"}')
    assert record.hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert (record.seq, record.at, record.actor, record.action, record.outcome, record.source, record.reason,
            record.case_id, record.request_ref, record.message_id, record.prev_hash) == (
        7, "2026-12-04T08:00:00.000000Z", "alice", "audio.play", "ok", "192.0.2.10", "ré", "CI-1", "REQ-1", "m1",
        "a" * 64)


def test_an_unknown_outcome_is_refused_by_name() -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown outcome 'maybe'"):
        chain(AuditEvent(actor="a", action="b", outcome="maybe"), 1, "2026-12-04T08:00:00.000000Z", GENESIS)


def test_each_kind_of_break_reports_where_the_intact_part_ends() -> None:
    """What `audit verify` prints: how many records checked out, the last good one, the first bad one."""
    from voicemail.audit.chain import Anchor, VerifyResult

    events = a_chain(5)
    assert replay(events) == VerifyResult(5, 5)
    assert replay(events[:2] + events[3:]) == VerifyResult(2, 2, 3, "sequence 3 is missing")
    assert replay([events[0], events[2], events[1]]) == VerifyResult(1, 1, 2, "sequence 2 is missing")
    assert replay([events[0], events[0]]) == VerifyResult(
        1, 1, 2, "sequence 2 expected, found 1 (reordered or duplicated)")
    altered = [*events[:3], dataclasses.replace(events[3], actor="mallory"), events[4]]
    assert replay(altered) == VerifyResult(3, 3, 4, "sequence 4 was altered")
    relinked = [*events[:2], rehashed(events[2], actor="mallory"), *events[3:]]
    assert replay(relinked) == VerifyResult(3, 3, 4, "sequence 4 does not follow its predecessor")
    assert replay(events, [Anchor(4, "0" * 64)]) == VerifyResult(3, 3, 4, "sequence 4 differs from a signed checkpoint")
    assert replay(events[:3], [Anchor(5, events[4].hash)]) == VerifyResult(
        3, 3, 4, "sequence 4 is missing (the chain was checkpointed up to 5)")
    assert replay(events[2:], start=Anchor(2, events[1].hash)) == VerifyResult(3, 5)
