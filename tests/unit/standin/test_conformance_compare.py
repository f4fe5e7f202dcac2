"""The conformance replayer's comparison, on a real capture: what counts as a difference and what not."""

from __future__ import annotations

import pytest

from tests.conftest import CAPTURES
from voicemail.standin.conformance import Fields, differences, read_capture, rounds

Q1 = CAPTURES / "q1-voicemail-session.ami.txt"


def session() -> tuple[str, list[Fields], list[Fields]]:
    banner, messages = read_capture(Q1.read_bytes())
    actions, recorded = [], []
    for action, replies in rounds(messages):
        actions.append(action)
        recorded += replies
    return banner, actions, recorded


def changed(messages: list[Fields], where: dict[str, str], **values: str) -> list[Fields]:
    """A copy with ``values`` set in the first message that has all of ``where``."""
    out = [dict(m) for m in messages]
    target = next(m for m in out if all(m.get(k) == v for k, v in where.items()))
    target.update(values)
    return out


def test_a_capture_reads_as_banner_then_actions_with_their_replies() -> None:
    banner, actions, recorded = session()

    assert banner == "Asterisk Call Manager/11.0.0"
    assert actions[0]["Action"] == "Login" and actions[0]["ActionID"] == "lab-001"
    assert recorded[0] == {"Response": "Success", "ActionID": "lab-001", "Message": "Authentication accepted"}
    assert len({a["ActionID"] for a in actions}) == len(actions)


def test_a_session_replayed_exactly_has_no_difference() -> None:
    banner, actions, recorded = session()

    assert differences(banner, banner, actions, recorded, [dict(m) for m in recorded]) == []


def test_values_that_change_from_run_to_run_are_not_compared() -> None:
    banner, actions, recorded = session()
    live = changed(recorded, {"Event": "OriginateResponse"}, Uniqueid="astlab-1999999999.9",
                   Channel="Local/play@vmlab-0000002a;1")

    assert differences(banner, banner, actions, recorded, live) == []


def test_a_different_stable_value_in_a_reply_is_reported_against_its_action() -> None:
    banner, actions, recorded = session()
    count = next(m for m in recorded if m.get("Message") == "Mailbox Message Count")
    live = changed(recorded, {"ActionID": count["ActionID"], "Message": "Mailbox Message Count"}, NewMessages="7")

    found = differences(banner, banner, actions, recorded, live)

    assert len(found) == 1 and found[0].startswith(f"MailboxCount ({count['ActionID']}): reply differs")


def test_an_extra_header_in_a_reply_is_a_difference() -> None:
    banner, actions, recorded = session()
    live = changed(recorded, {"ActionID": "lab-001"}, Extra="yes")

    assert [d.splitlines()[0] for d in differences(banner, banner, actions, recorded, live)] == [
        "Login (lab-001): reply differs"]


@pytest.mark.parametrize("event", ["MessageWaiting", "Cdr"])
def test_a_missing_key_event_is_counted(event: str) -> None:
    banner, actions, recorded = session()
    dropped = next(i for i, m in enumerate(recorded) if m.get("Event") == event and "ActionID" not in m)
    live = recorded[:dropped] + recorded[dropped + 1:]

    found = differences(banner, banner, actions, recorded, live)

    assert len(found) == 1 and found[0].startswith(f"event {event}: recorded ")


def test_a_cdr_of_another_length_is_the_same_shape() -> None:
    banner, actions, recorded = session()
    cdr = next(m for m in recorded if m.get("Event") == "Cdr")
    live = changed(recorded, {"Event": "Cdr", "UniqueID": cdr["UniqueID"]}, Duration="99")

    assert differences(banner, banner, actions, recorded, live) == []


def test_another_banner_is_a_difference() -> None:
    banner, actions, recorded = session()

    assert differences(banner, "Asterisk Call Manager/5.0.2", actions, recorded, recorded) == [
        "banner: recorded 'Asterisk Call Manager/11.0.0', live 'Asterisk Call Manager/5.0.2'"]
