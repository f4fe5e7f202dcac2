"""Replay checks each record's link to its predecessor, not only each record's own hash: a record
edited and re-hashed by someone who can write the table is caught at the record after it."""

from __future__ import annotations

import dataclasses

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


def rehashed(record: ChainedEvent, **changes: str) -> ChainedEvent:
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
