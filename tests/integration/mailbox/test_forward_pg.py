"""Forwarding a message to another mailbox against the Asterisk stand-in and PostgreSQL: the recipient gets
a playable copy bit-identical to the caller's audio under a key of its own, Asterisk's copy in the spool is a
placeholder only, both sides are audited, and what cannot be done is refused with a reason."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from tests.integration.mailbox.harness import ALICE, ALICE_BOX, BOB, BOB_BOX, MailboxSite, mailbox_site
from tests.integration.pipeline.harness import make_wav
from voicemail.ami.actions import mailbox_count, voicemail_forward
from voicemail.ami.blocking import BlockingAmi
from voicemail.domain.errors import Conflict, InvalidInput, NotFound
from voicemail.domain.mailbox import InboxQuery
from voicemail.domain.models import MailboxRef
from voicemail.spool.placeholder import placeholder_bytes
from voicemail.vault import FileVault

pytestmark = pytest.mark.postgres

AUDIO = make_wav(9.0, seed=41)  # three vault chunks of 64 KiB
COMMENT = "Please call them back <b>today</b>\nThanks"


@pytest.fixture(params=["postgresql", "sqlite"])
def box(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MailboxSite]:
    """PostgreSQL (as deployed), and SQLite (the embedded default: its count triggers see the copy arrive)."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else f"sqlite:///{tmp_path / 'vm.db'}"
    with mailbox_site(tmp_path / "site", url) as site:
        yield site


def heard(site: MailboxSite, viewer: object, message_id: str) -> bytes:
    stream = site.mailboxes.audio(viewer, message_id, None, "original")  # type: ignore[arg-type]
    return b"".join(stream.chunks)


def spool_audio(site: MailboxSite, mailbox: str) -> list[bytes]:
    return [p.read_bytes() for p in site.spool_files(mailbox) if p.suffix != ".txt"]


def mail_to(site: MailboxSite, address: str) -> list[Message]:
    found = [email.message_from_bytes(p.read_bytes()) for p in site.site.emls()]
    return [m for m in found if address in str(m["To"])]


def body(message: Message, kind: str) -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{kind}":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError(f"no text/{kind} part")


def asterisk_counts(site: MailboxSite, mailbox: MailboxRef) -> tuple[int, int]:
    """(new, old) as Asterisk counts them (MailboxCount: what the message-waiting lamp shows)."""
    ami = BlockingAmi("127.0.0.1", site.site.port, "voicemail", site.site.secret)
    try:
        counts = ami.run(lambda c: mailbox_count(c, mailbox), timeout=15)
    finally:
        ami.close()
    return counts.new + counts.urgent, counts.old


def send_notification(site: MailboxSite, copy_id: str) -> None:
    note = site.container.store.notification_for(copy_id)
    assert note is not None
    site.container.notifier.send(note[0])


def test_the_recipient_gets_a_bit_identical_copy_under_its_own_key(box: MailboxSite) -> None:
    original = box.leave("1001@default", AUDIO)
    done = box.mailboxes.forward(ALICE, original, "1002", COMMENT)
    assert done.to == BOB_BOX and not done.held

    page = box.mailboxes.inbox(BOB, BOB_BOX, InboxQuery())
    assert [(item.id, item.forwarded) for item in page.items] == [(done.message_id, True)] and page.total == 1
    mine_listed = box.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery())
    assert [(i.id, i.forwarded) for i in mine_listed.items] == [(original, False)]  # the original stays
    assert heard(box, BOB, done.message_id) == AUDIO
    assert heard(box, ALICE, original) == AUDIO

    store = box.container.store
    mine, theirs = store.get(original), store.get(done.message_id)
    assert theirs.caller == mine.caller and theirs.msg_id == mine.msg_id and theirs.folder == "INBOX"
    assert mine.wrapped_key is not None and theirs.wrapped_key is not None
    keyring = box.container.keyring
    assert keyring.unwrap(mine.wrapped_key, original.encode()) != keyring.unwrap(theirs.wrapped_key,
                                                                                 done.message_id.encode())
    assert {r.sha256 for r in theirs.recordings} == {r.sha256 for r in mine.recordings}
    assert not {r.blob_name for r in theirs.recordings} & {r.blob_name for r in mine.recordings}

    assert spool_audio(box, "1002@default") == [placeholder_bytes("wav")]  # Asterisk copied silence only
    assert asterisk_counts(box, BOB_BOX) == (1, 0) and asterisk_counts(box, ALICE_BOX) == (1, 0)  # MWI follows
    assert box.container.discovery.scan(BOB_BOX).new == 0  # the placeholder is the copy, not a new message

    sent = [(a, action, outcome, d) for a, action, outcome, d in box.audit(original) if action == "message.forward"]
    assert [(a, o, d["to"], d["copy"]) for a, _, o, d in sent] == [("alice", "ok", "1002@default", done.message_id)]
    received = [e for e in box.audit(done.message_id) if e[1] == "message.forward.received"]
    assert len(received) == 1 and received[0][3]["from_message"] == original
    assert received[0][3]["spool_placeholder_only"] is True

    note = box.mailboxes.forward_note(BOB, done.message_id)
    assert note is not None and note.comment == COMMENT and note.forwarder_label == "Alice Internal (1001)"

    send_notification(box, done.message_id)
    [mail] = mail_to(box, "bob@example.test")
    assert str(mail["Subject"]).startswith("Fwd: Voice message from Alice Internal")
    assert "Forwarded to you by Alice Internal (1001) (internal)." in body(mail, "plain")
    html = body(mail, "html")
    assert "&lt;b&gt;today&lt;/b&gt;" in html and "<b>today" not in html


def test_destroying_either_copy_leaves_the_other_playable(box: MailboxSite) -> None:
    first = box.leave("1001@default", AUDIO)
    copy = box.mailboxes.forward(ALICE, first, "1002").message_id
    box.mailboxes.delete(ALICE, first)  # crypto-shreds the original's key and blobs
    assert heard(box, BOB, copy) == AUDIO
    with pytest.raises(NotFound):
        heard(box, ALICE, first)

    second = box.leave("1001@default", make_wav(2.0, seed=43))
    copy2 = box.mailboxes.forward(ALICE, second, "1002").message_id
    vault = FileVault(box.site.root / "vault")
    blobs = [r.blob_name for r in box.container.store.get(copy2).recordings]
    box.mailboxes.delete(BOB, copy2)
    assert not any(vault.exists(b) for b in blobs)
    assert box.services.forwarder is not None and box.services.forwarder.note(copy2) is None  # comment gone too
    assert asterisk_counts(box, BOB_BOX) == (1, 0)  # the first copy only
    assert heard(box, ALICE, second) == make_wav(2.0, seed=43)
    assert box.mailboxes.forward_note(ALICE, second) is None


def test_an_outside_callers_message_stays_anonymous_in_the_recipients_mail(box: MailboxSite) -> None:
    original = box.leave("1001@default", AUDIO, callerid='"Mallory" <+12025550123>', context="vm-from-trunk")
    copy = box.mailboxes.forward(ALICE, original, "1002@default", "From outside").message_id
    send_notification(box, copy)
    [mail] = mail_to(box, "bob@example.test")
    text = mail.as_string()
    assert "Mallory" not in text and "2025550123" not in text
    assert "Voice message from an outside caller" in str(mail["Subject"])
    assert "Forwarded to you by Alice Internal (1001) (internal)." in body(mail, "plain")


def test_refusals_say_why_and_change_nothing(box: MailboxSite) -> None:
    original = box.leave("1001@default", AUDIO)
    with pytest.raises(InvalidInput, match="no mailbox 7777"):
        box.mailboxes.forward(ALICE, original, "7777")
    with pytest.raises(InvalidInput, match="your own mailbox"):
        box.mailboxes.forward(ALICE, original, "1001")
    with pytest.raises(InvalidInput, match="A mailbox is a number"):
        box.mailboxes.forward(ALICE, original, "../1002")
    with pytest.raises(InvalidInput, match="at most 500"):
        box.mailboxes.forward(ALICE, original, "1002", "x" * 501)
    with pytest.raises(NotFound):
        box.mailboxes.forward(BOB, original, "2001")  # not Bob's message
    assert box.mailboxes.inbox(BOB, BOB_BOX, InboxQuery()).total == 0
    assert spool_audio(box, "1002@default") == []

    box.mailboxes.forward(ALICE, original, "1002")
    with pytest.raises(Conflict, match="already has this message"):
        box.mailboxes.forward(ALICE, original, "1002")
    assert box.mailboxes.inbox(BOB, BOB_BOX, InboxQuery()).total == 1
    refused = [e for e in box.audit(original) if e[1] == "message.forward" and e[2] == "error"]
    assert len(refused) == 5
    denied = [e for e in box.audit(original) if e[1] == "message.forward" and e[2] == "denied"]
    assert [e[0] for e in denied] == ["bob"]


def test_a_held_message_can_be_forwarded_and_stays_held(box: MailboxSite) -> None:
    original = box.leave("1001@default", AUDIO)
    box.hold(original)
    done = box.mailboxes.forward(ALICE, original, "1002")
    assert done.held
    assert heard(box, BOB, done.message_id) == AUDIO
    sent = [e for e in box.audit(original) if e[1] == "message.forward"]
    assert sent[-1][3]["held"] is True
    box.mailboxes.delete(ALICE, original)  # hidden, not destroyed: the hold still protects it
    assert heard(box, BOB, done.message_id) == AUDIO
    assert box.container.store.get(original).wrapped_key is not None


def test_a_full_recipient_mailbox_refuses_and_nothing_is_left_behind(tmp_path: Path, pg_url: str) -> None:
    with mailbox_site(tmp_path / "site", pg_url, standin={"maxmsg": 2}) as site:
        for seed in (1, 2):
            site.leave("1002@default", make_wav(1.0, seed=seed))
        original = site.leave("1001@default", AUDIO)
        blobs_before = sorted(p.name for p in (site.site.root / "vault").rglob("*") if p.is_file())
        with pytest.raises(Conflict, match="Mailbox 1002 is full"):
            site.mailboxes.forward(ALICE, original, "1002")
        assert site.mailboxes.inbox(BOB, BOB_BOX, InboxQuery()).total == 2
        assert site.container.store.find(BOB_BOX, site.container.store.get(original).msg_id) is None
        assert sorted(p.name for p in (site.site.root / "vault").rglob("*") if p.is_file()) == blobs_before


def test_asterisks_own_forward_of_a_message_in_custody_is_reported_not_sealed(box: MailboxSite) -> None:
    """VoicemailForward straight to Asterisk (not through us) copies our placeholder: the spool scan must
    not take that silence for a new recording."""
    original = box.leave("1001@default", AUDIO)
    msg_id = box.container.store.get(original).msg_id
    ami = BlockingAmi("127.0.0.1", box.site.port, "voicemail", box.site.secret)
    try:
        ami.run(lambda c: voicemail_forward(c, ALICE_BOX, "INBOX", msg_id, BOB_BOX, confirm=True), timeout=15)
    finally:
        ami.close()
    report = box.container.discovery.scan(BOB_BOX)
    assert report.new == 0 and len(report.problems) == 1 and "only a placeholder" in report.problems[0].reason
    assert box.container.store.find(BOB_BOX, msg_id) is None
    assert box.mailboxes.inbox(BOB, BOB_BOX, InboxQuery()).total == 0
