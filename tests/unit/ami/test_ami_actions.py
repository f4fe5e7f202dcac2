"""Typed action helpers, answered with the bytes a real Asterisk 22 sent (q1, q2b, q5; q8 behaviour)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from ami_fakes import FakeAsterisk, Session, reply_bytes

from voicemail.ami.actions import (
    BoxItem,
    Counts,
    MessageWaiting,
    VoicemailUser,
    mailbox_count,
    parse_message_waiting,
    voicemail_box_summary,
    voicemail_forward,
    voicemail_move,
    voicemail_refresh,
    voicemail_remove,
    voicemail_users_list,
)
from voicemail.ami.client import AmiActionError, AmiClient
from voicemail.ami.parser import AmiMessage, AmiParser
from voicemail.ami.session import AmiResponse
from voicemail.domain.errors import InvalidInput
from voicemail.domain.models import MailboxRef

Q1, Q2B, Q5 = "q1-voicemail-session", "q2b-vm-move-remove-forward", "q5-urgent-message"
MOVED = "1795979530-00000001"  # q2b: moved INBOX -> Old by lab-003
REMOVED = "1795979530-00000006"  # q2b: removed by lab-004
FORWARDED = "1795979530-00000004"  # q2b: forwarded to 2001 by lab-005


def with_server(answers: dict[str, tuple[str, str]], captures: Path,
                body: Callable[[AmiClient, FakeAsterisk], Coroutine[Any, Any, None]]) -> FakeAsterisk:
    """Run ``body`` against a server that answers action NAME with capture (file, lab ActionID)."""

    async def on_action(session: Session, msg: AmiMessage) -> None:
        capture, lab_id = answers[msg.action or ""]
        await session.send(reply_bytes(captures, capture, lab_id, msg.action_id or ""))

    server = FakeAsterisk(on_action)

    async def scenario() -> None:
        async with asyncio.timeout(20):
            await server.start()
            client = AmiClient("127.0.0.1", server.port, "lab", "labsecret", ping_interval=0)
            await client.connect()
            try:
                await body(client, server)
            finally:
                await client.close()
                await server.stop()

    asyncio.run(scenario())
    return server


def test_users_list_parses_entries_and_null_email(captures: Path) -> None:
    async def body(client: AmiClient, server: FakeAsterisk) -> None:
        users = await voicemail_users_list(client)
        assert users == [VoicemailUser("default", "1001", "Alice Internal", "alice@example.test", 0, 0, 100),
                         VoicemailUser("default", "1002", "Bob Internal", None, 0, 0, 100),
                         VoicemailUser("default", "2001", "Carol", None, 0, 0, 100)]

    with_server({"VoicemailUsersList": (Q1, "lab-002")}, captures, body)


def test_box_summary_lists_every_message_with_folder_and_flag(captures: Path) -> None:
    async def body(client: AmiClient, server: FakeAsterisk) -> None:
        items = await voicemail_box_summary(client, "default", "1002")
        assert len(items) == 17 and {i.folder for i in items} == {"INBOX"}
        assert items[0] == BoxItem("INBOX", "+12025550123", "Sun Nov 29 07:12:10 PM UTC 2026", 3, "", MOVED)
        sent = server.received("VoicemailBoxSummary")[0]
        assert (sent.get("Context"), sent.get("Mailbox")) == ("default", "1002")

    with_server({"VoicemailBoxSummary": (Q2B, "lab-002")}, captures, body)


def test_box_summary_shows_urgent_folder(captures: Path) -> None:
    async def body(client: AmiClient, server: FakeAsterisk) -> None:
        items = await voicemail_box_summary(client, "default", "1002")
        urgent = [i for i in items if i.folder == "Urgent"]
        assert len(urgent) == 1 and urgent[0].flag == "Urgent" and urgent[0].duration == 10

    with_server({"VoicemailBoxSummary": (Q5, "lab-005")}, captures, body)


def test_mailbox_count_and_refresh(captures: Path) -> None:
    async def body(client: AmiClient, server: FakeAsterisk) -> None:
        assert await mailbox_count(client, "1001@default") == Counts(urgent=0, new=1, old=0)
        await voicemail_refresh(client, "default", "1001")
        refresh = server.received("VoicemailRefresh")[0]
        assert (refresh.get("Context"), refresh.get("Mailbox")) == ("default", "1001")

    with_server({"MailboxCount": (Q1, "lab-009"), "VoicemailRefresh": (Q1, "lab-005")}, captures, body)


def test_move_with_bare_lf_reply_is_confirmed_by_the_box_summary(captures: Path) -> None:
    async def body(client: AmiClient, server: FakeAsterisk) -> None:
        assert await voicemail_move(client, "default", "1002", "INBOX", MOVED, "Old", confirm=True) is True
        sent = server.received("VoicemailMove")[0]
        assert [(k, v) for k, v in sent.headers[2:]] == [
            ("Context", "default"), ("Mailbox", "1002"), ("Folder", "INBOX"), ("ID", MOVED), ("ToFolder", "Old")]

    with_server({"VoicemailMove": (Q2B, "lab-003"), "VoicemailBoxSummary": (Q2B, "lab-007")}, captures, body)


def test_move_that_claims_success_but_did_not_move_raises_with_confirm(captures: Path) -> None:
    # q8: with the audio gone, Move says "successful" and the message is still in INBOX
    async def body(client: AmiClient, server: FakeAsterisk) -> None:
        assert await voicemail_move(client, "default", "1002", "INBOX", MOVED, "Old") is True  # the claim
        with pytest.raises(AmiActionError, match="not confirmed: the message is in INBOX"):
            await voicemail_move(client, "default", "1002", "INBOX", MOVED, "Old", confirm=True)

    with_server({"VoicemailMove": (Q2B, "lab-003"), "VoicemailBoxSummary": (Q2B, "lab-002")}, captures, body)


def test_forward_sends_the_q2b_headers_and_reads_the_claim(captures: Path) -> None:
    async def body(client: AmiClient, server: FakeAsterisk) -> None:
        claimed = await voicemail_forward(client, MailboxRef("default", "1002"), "INBOX", FORWARDED,
                                          MailboxRef("default", "2001"))
        assert claimed is True
        sent = server.received("VoicemailForward")[0]
        assert [(k, v) for k, v in sent.headers[2:]] == [
            ("Context", "default"), ("Mailbox", "1002"), ("Folder", "INBOX"), ("ID", FORWARDED),
            ("ToContext", "default"), ("ToMailbox", "2001"), ("ToFolder", "INBOX")]

    with_server({"VoicemailForward": (Q2B, "lab-005")}, captures, body)


def test_remove_is_confirmed_gone(captures: Path) -> None:
    async def body(client: AmiClient, server: FakeAsterisk) -> None:
        assert await voicemail_remove(client, "default", "1002", "INBOX", REMOVED, confirm=True) is True

    with_server({"VoicemailRemove": (Q2B, "lab-004"), "VoicemailBoxSummary": (Q2B, "lab-007")}, captures, body)


def test_remove_that_claims_success_but_left_the_message_raises_with_confirm(captures: Path) -> None:
    async def body(client: AmiClient, server: FakeAsterisk) -> None:
        with pytest.raises(AmiActionError, match="still in INBOX"):
            await voicemail_remove(client, "default", "1002", "INBOX", REMOVED, confirm=True)

    with_server({"VoicemailRemove": (Q2B, "lab-004"), "VoicemailBoxSummary": (Q2B, "lab-002")}, captures, body)


def test_failed_remove_reply_returns_false_and_a_confirmed_absence_does_not_raise(captures: Path) -> None:
    # q2b lab-006: "Response: Success" / "Message: Message remove failed\n"
    async def body(client: AmiClient, server: FakeAsterisk) -> None:
        assert await voicemail_remove(client, "default", "1002", "INBOX", "1795979530-000000ff") is False
        # a retry of a remove that already happened: the reply says failed, the box confirms it is gone
        assert await voicemail_remove(client, "default", "1002", "INBOX", REMOVED, confirm=True) is False

    with_server({"VoicemailRemove": (Q2B, "lab-006"), "VoicemailBoxSummary": (Q2B, "lab-007")}, captures, body)


@pytest.mark.parametrize(("args", "what"), [
    (("default", "../1002", "INBOX", MOVED, "Old"), "mailbox"),
    (("default", "1002", "Trash", MOVED, "Old"), "folder"),
    (("default", "1002", "INBOX", "does-not-exist", "Old"), "msg_id"),
    (("default", "1002", "INBOX", MOVED, "INBOX\r\nAction: Originate"), "folder"),
])
def test_bad_input_is_refused_before_anything_is_sent(captures: Path, args: tuple[str, ...], what: str) -> None:
    async def body(client: AmiClient, server: FakeAsterisk) -> None:
        with pytest.raises(InvalidInput):
            await voicemail_move(client, *args)

    server = with_server({}, captures, body)
    assert server.received("VoicemailMove") == [], what


def test_message_waiting_parsed_from_real_events(captures: Path) -> None:
    parser = AmiParser()
    messages = parser.feed((captures / f"{Q1}.rx.ami.txt").read_bytes())
    waiting = [w for w in map(parse_message_waiting, messages) if w is not None]
    assert waiting and all(w == MessageWaiting("1001@default", True, 1, 0) for w in waiting)
    q2b = AmiParser().feed((captures / f"{Q2B}.rx.ami.txt").read_bytes())
    assert [w for w in map(parse_message_waiting, q2b) if w][:2] == [
        MessageWaiting("1002@default", True, 16, 1), MessageWaiting("1002@default", True, 15, 1)]
    assert parse_message_waiting(messages[0]) is None  # the Login reply


def _waiting_event(*fields: str) -> AmiMessage:
    raw = "\r\n".join(("Event: MessageWaiting", "Privilege: call,all", *fields)) + "\r\n\r\n"
    [message] = AmiParser().feed(b"Asterisk Call Manager/11.0.0\r\n" + raw.encode())
    return message


@pytest.mark.parametrize("value,waiting", [("1", True), ("yes", True), ("True", True), ("0", False), ("no", False),
                                           ("", False)])
def test_message_waiting_reads_every_spelling_of_waiting(value: str, waiting: bool) -> None:
    event = _waiting_event("Mailbox: 1001@default", f"Waiting: {value}", "New: 2", "Old: 1")
    assert parse_message_waiting(event) == MessageWaiting("1001@default", waiting, 2, 1)


def test_message_waiting_without_a_mailbox_is_ignored() -> None:
    assert parse_message_waiting(_waiting_event("Waiting: 1", "New: 1", "Old: 0")) is None
    assert parse_message_waiting(_waiting_event("Mailbox:  ", "Waiting: 1")) is None


def test_counts_with_non_ascii_digits_are_treated_as_absent() -> None:
    from voicemail.ami.actions import _maybe_int

    assert _maybe_int("²") is None and _maybe_int("١") is None and _maybe_int(" 7 ") == 7


class _PipelineProbe:
    """An ActionRunner that answers VoicemailMove / VoicemailRemove only once the confirming
    VoicemailBoxSummary has been sent too: a caller that waits for the first reply before sending
    the listing never gets one. Records the order in which actions were sent."""

    def __init__(self, listing: list[tuple[str, str]]) -> None:
        self.sent: list[str] = []
        self.listing_sent = asyncio.Event()
        self.listing = listing

    async def action(self, name: str, headers: Any = (), *, timeout: float | None = None) -> Any:
        self.sent.append(name)
        if name == "VoicemailBoxSummary":
            self.listing_sent.set()
            items = [AmiMessage([("Event", "VoicemailBoxDetail"), ("Folder", folder), ("ID", msg_id)])
                     for folder, msg_id in self.listing]
            return AmiResponse(AmiMessage([("Response", "Success")]), tuple(items))
        await asyncio.wait_for(self.listing_sent.wait(), 2)
        return AmiResponse(AmiMessage([("Response", "Success"), ("Message", f"{name[9:]} successful")]))


def test_confirmed_move_sends_the_listing_without_waiting_for_the_move_reply() -> None:
    probe = _PipelineProbe([("Old", MOVED)])
    assert asyncio.run(voicemail_move(probe, "default", "1002", "INBOX", MOVED, "Old", confirm=True)) is True
    assert probe.sent == ["VoicemailMove", "VoicemailBoxSummary"]


def test_confirmed_remove_sends_the_listing_without_waiting_for_the_remove_reply() -> None:
    probe = _PipelineProbe([("INBOX", MOVED)])
    assert asyncio.run(voicemail_remove(probe, "default", "1002", "INBOX", REMOVED, confirm=True)) is True
    assert probe.sent == ["VoicemailRemove", "VoicemailBoxSummary"]


def test_pipelined_move_still_refuses_a_move_the_listing_does_not_show() -> None:
    probe = _PipelineProbe([("INBOX", MOVED)])
    with pytest.raises(AmiActionError, match="not confirmed: the message is in INBOX"):
        asyncio.run(voicemail_move(probe, "default", "1002", "INBOX", MOVED, "Old", confirm=True))
