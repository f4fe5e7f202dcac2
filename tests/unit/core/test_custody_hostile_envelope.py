"""Custody does not depend on the caller fields: a message whose .txt the envelope parser refuses (a caller
name with a line feed, a missing or doubled callerid= line) is sealed, stripped and announced as from an
outside caller; the refusal is reported (log and reconcile report) without any caller data."""

from __future__ import annotations

import email
import logging
from email import policy
from pathlib import Path

import pytest

from tests.conftest import CAPTURES
from tests.unit.core.test_custody import BOX, World
from voicemail.domain.errors import MalformedEnvelope
from voicemail.spool import is_placeholder_bytes, parse_envelope
from voicemail.spool.envelope_salvage import read_envelope, salvage_envelope

pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason=f"captures not found at {CAPTURES}")
INTERNAL = "spool-2001-INBOX-msg0000.dialplan-vmleave-int.txt"
REAL_MSG_ID = "1795978833-00000002"
CALLER_LINE = b'callerid="Alice Internal" <1001>\n'

HOSTILE = {
    # the caller's name carries a line feed: the rest of it is a line that is not key=value
    "name with a line feed": CALLER_LINE.replace(b"Alice Internal", b"Mallory\nEvil Name"),
    # ... or smuggles keys of its own, among them another message's msg_id
    "name smuggling keys": CALLER_LINE.replace(
        b"Alice Internal", b'x"\nmsg_id=1700000000-00000009\nflag=Urgent\ncallerid="Mallory Smuggled'),
    "no callerid line": b"",
    "two callerid lines": CALLER_LINE + b'callerid="Mallory Second" <5550199>\n',
}


def hostile_txt(kind: str) -> bytes:
    return (CAPTURES / INTERNAL).read_bytes().replace(CALLER_LINE, HOSTILE[kind])


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_the_parser_refuses_it_and_custody_still_reads_what_asterisk_wrote(kind: str) -> None:
    data = hostile_txt(kind)
    with pytest.raises(MalformedEnvelope):
        parse_envelope(data)
    envelope, refused = read_envelope(data)
    assert refused and "Mallory" not in refused and "5550199" not in refused
    assert envelope.msg_id == REAL_MSG_ID
    assert (envelope.origtime, envelope.duration, envelope.flag) == (1795978833, 3, "")
    assert (envelope.callerid, envelope.context) == ("", "")  # nothing the caller could have touched


def test_an_incomplete_envelope_is_still_refused() -> None:
    data = hostile_txt("no callerid line")
    with pytest.raises(MalformedEnvelope):
        salvage_envelope(data.replace(b"duration=3\n", b""))
    with pytest.raises(MalformedEnvelope):
        read_envelope(data[:-1])  # truncated
    with pytest.raises(MalformedEnvelope):
        read_envelope(data.replace(REAL_MSG_ID.encode(), b"not-an-id"))


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_refused_envelope_is_sealed_stripped_and_announced_as_an_outside_caller(
        tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture) -> None:
    world = World(tmp_path)
    inbox = tmp_path / "spool" / "default" / "2001" / "INBOX"
    (inbox / "msg0000.txt").write_bytes(hostile_txt(kind))
    with caplog.at_level(logging.DEBUG):
        report = world.discovery.reconcile()
    assert (report.seen, report.new) == (3, 3)
    assert [(Path(p.path).name, bool(p.reason)) for p in report.envelopes_refused] == [("msg0000.txt", True)]
    assert report.problems == []
    record = next(world.store.get(m) for m in world.enqueued if world.store.get(m).msg_id == REAL_MSG_ID)
    assert record.caller.kind.value == "external" and record.caller.name is None and record.caller.number is None

    assert world.custody.seal(record.id) == "sealed"
    world.notifier.send(world.custody.strip(record.id))
    assert is_placeholder_bytes("wav", (inbox / "msg0000.wav").read_bytes())
    assert (inbox / "msg0000.txt").read_bytes() == hostile_txt(kind)  # the envelope is kept as Asterisk wrote it

    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in (tmp_path / "outbox").glob("*.eml")]
    ours = [m for m in mails if "outside caller" in str(m["Subject"])]
    assert ours and all("Mallory" not in m.as_string() and "5550199" not in m.as_string() for m in mails)
    logged = caplog.text
    assert "refused" in logged and "Mallory" not in logged and "5550199" not in logged and "Evil" not in logged
    assert BOX.mailbox in logged


def test_a_refused_envelope_is_reported_at_every_reconciliation_until_it_leaves(tmp_path: Path) -> None:
    world = World(tmp_path)
    inbox = tmp_path / "spool" / "default" / "2001" / "INBOX"
    (inbox / "msg0000.txt").write_bytes(hostile_txt("two callerid lines"))
    world.discovery.reconcile()
    again = world.discovery.reconcile()
    assert again.new == 0 and len(again.envelopes_refused) == 1
