"""The user's own call history from stored CDRs (SQLite; the Cdr event text as Asterisk 22 sends it,
capture q1, with the numbers and dispositions varied)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from voicemail.ami.parser import parse_block
from voicemail.audit.cdr import CdrStore
from voicemail.db.engine import make_engine
from voicemail.db.mailbox_store import calls_of
from voicemail.db.migrate import upgrade
from voicemail.domain.errors import InvalidInput
from voicemail.domain.mailbox import CallHistoryPage
from voicemail.services.call_history import CallQuery, call_history, scopes_for

CDR = """Event: Cdr\r
Privilege: cdr,all\r
SystemName: astlab\r
AccountCode: \r
Source: {src}\r
Destination: {dst}\r
DestinationContext: internal\r
CallerID: {cid}\r
Channel: {chan}-00000001\r
DestinationChannel: PJSIP/{dst}-00000002\r
LastApplication: Dial\r
LastData: PJSIP/{dst},30\r
StartTime: {at}\r
AnswerTime: {at}\r
EndTime: {at}\r
Duration: {dur}\r
BillableSeconds: {bill}\r
Disposition: {disp}\r
AMAFlags: DOCUMENTATION\r
UniqueID: astlab-1795978538.{n}\r
UserField: \r
"""


@pytest.fixture
def query(tmp_path: Path) -> Iterator[CallQuery]:
    engine = make_engine(f"sqlite:///{tmp_path / 'cdr.db'}")
    upgrade(engine)
    store = CdrStore(engine)
    calls = [("1001", "1002", '"Alice Internal" <1001>', "2026-11-29 09:00:00", 30, 25, "ANSWERED", "PJSIP/1001"),
             ("+12025550123", "1001", '"Outside" <+12025550123>', "2026-11-29 10:00:00", 12, 0, "NO ANSWER",
              "PJSIP/sip-trunk"),
             ("1002", "1001", '"Bob Internal" <1002>', "2026-11-29 11:00:00", 40, 38, "ANSWERED", "PJSIP/1002"),
             ("1002", "2001", '"Bob Internal" <1002>', "2026-11-29 12:00:00", 5, 5, "ANSWERED", "PJSIP/1002"),
             # an outside caller presenting 1001 as its number, through the trunk, to 2001
             ("1001", "2001", '"Alice Internal" <1001>', "2026-11-29 13:00:00", 7, 7, "ANSWERED", "PJSIP/sip-trunk")]
    for n, (src, dst, cid, at, dur, bill, disp, chan) in enumerate(calls):
        assert store.ingest(parse_block(CDR.format(src=src, dst=dst, cid=cid, at=at, dur=dur, bill=bill,
                                                   disp=disp, n=n, chan=chan)))
    yield lambda scopes, offset, limit: calls_of(engine, scopes, offset, limit)
    engine.dispose()


def history(query: CallQuery, numbers: list[str], offset: int, limit: int, template: str) -> CallHistoryPage:
    """The history of a user without mailboxes: their numbers on the default site."""
    return call_history(query, scopes_for(numbers, (), template, "default"), offset, limit)


TEMPLATE = "PJSIP/{number}"


def test_placed_received_and_missed_newest_first(query: CallQuery) -> None:
    page = history(query, ["1001"], 0, 50, TEMPLATE)
    assert page.total == 3
    assert [(c.at[11:16], c.direction, c.other_party, c.other_name, c.billable_seconds) for c in page.items] == [
        ("11:00", "received", "1002", "Bob Internal", 38),
        ("10:00", "missed", "+12025550123", "Outside", 0),
        ("09:00", "placed", "1002", "", 25)]


def test_paging_and_other_users_calls(query: CallQuery) -> None:
    page = history(query, ["1001"], 1, 1, TEMPLATE)
    assert (page.total, [c.at[11:16] for c in page.items]) == (3, ["10:00"])
    assert [c.other_party for c in history(query, ["2001"], 0, 50, TEMPLATE).items] == ["1001", "1002"]
    assert history(query, [], 0, 50, TEMPLATE).total == 0


def test_a_call_presenting_someones_number_is_not_a_call_they_placed(query: CallQuery) -> None:
    """Caller ID is the caller's to choose: a call is placed by a user only when Asterisk reports it on
    the channel of one of their own devices (CDR Channel), never because its Source is their number."""
    alice = history(query, ["1001"], 0, 50, TEMPLATE)
    assert "13:00" not in [c.at[11:16] for c in alice.items]
    assert [c.direction for c in alice.items if c.direction == "placed"] == ["placed"]  # the 09:00 one only
    # the called party still sees the call, as received from the number it presented
    received = history(query, ["2001"], 0, 50, TEMPLATE).items[0]
    assert (received.at[11:16], received.direction, received.other_party) == ("13:00", "received", "1001")
    # without a device template nobody has placed calls
    assert [c.direction for c in history(query, ["1001"], 0, 50, "").items] == ["received", "missed"]


@pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, 0), (0, 201)])
def test_bad_paging_is_refused(query: CallQuery, offset: int, limit: int) -> None:
    with pytest.raises(InvalidInput):
        history(query, ["1001"], offset, limit, TEMPLATE)


def _capture_cdrs(captures: Path) -> list[str]:
    text = (captures / "q1-voicemail-session.ami.txt").read_text(encoding="utf-8")
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.startswith("Event: Cdr")]
    return [b.replace("\n", "\r\n") + "\r\n" for b in blocks]


def test_a_local_channel_pair_is_one_call_not_two(tmp_path: Path, captures: Path) -> None:
    """Asterisk sends one Cdr per half of a Local channel pair (q1: ;1 and ;2 of the same call); the
    extension called ("play" in the lab) sees the call once."""
    engine = make_engine(f"sqlite:///{tmp_path / 'cdr.db'}")
    upgrade(engine)
    store = CdrStore(engine)
    blocks = _capture_cdrs(captures)
    assert len(blocks) == 2 and {parse_block(b)["Channel"][-2:] for b in blocks} == {";1", ";2"}
    for block in blocks:
        assert store.ingest(parse_block(block))
    try:
        # q1 is an Originate with CallerID 1001 on a Local channel: not a call 1001's phone placed
        assert history(lambda sc, o, lim: calls_of(engine, sc, o, lim), ["1001"], 0, 50, TEMPLATE).total == 0
        page = history(lambda sc, o, lim: calls_of(engine, sc, o, lim), ["play"], 0, 50, TEMPLATE)
        assert page.total == 1 and [(c.direction, c.other_party) for c in page.items] == [("received", "1001")]
    finally:
        engine.dispose()


def test_a_lone_second_half_is_still_listed(tmp_path: Path, captures: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cdr.db'}")
    upgrade(engine)
    second = next(b for b in _capture_cdrs(captures) if ";2\r\n" in b)
    assert CdrStore(engine).ingest(parse_block(second))
    try:
        assert history(lambda sc, o, lim: calls_of(engine, sc, o, lim), ["play"], 0, 50, TEMPLATE).total == 1
    finally:
        engine.dispose()
