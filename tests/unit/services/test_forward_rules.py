"""The forward's own rules with a real vault and keyring and stand-ins for the database and Asterisk: the
copy is sealed again under its own key; a copy Asterisk did not make is discarded (row and blobs); one it
made before the connection broke is kept; comments and mailbox names are checked."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from voicemail.audit.chain import AuditEvent
from voicemail.domain.errors import AmiError, Conflict, IntegrityError, InvalidInput
from voicemail.domain.forwarding import ForwardCopy, ForwardNote
from voicemail.domain.mailbox import Viewer
from voicemail.domain.models import AudioFile, Caller, Envelope, MailboxRef, SpoolMessage
from voicemail.domain.records import STRIPPED, MessageRecord
from voicemail.services.forward import COMMENT_LIMIT, Forwarder, clean_comment, parse_recipient
from voicemail.services.forward_arrivals import ForwardArrivals
from voicemail.vault import FileKeyring, FileVault, new_data_key

ALICE_BOX, BOB_BOX = MailboxRef("default", "1001"), MailboxRef("default", "1002")
ALICE = Viewer("alice", frozenset({"owner"}), (ALICE_BOX,), "192.0.2.1")
AUDIO = bytes(range(256)) * 700  # 179 200 bytes: three vault chunks


@dataclass
class Rows:
    inserted: dict[str, ForwardCopy] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)

    def in_mailbox(self, mailbox: MailboxRef, msg_id: str) -> bool:
        return any(c.mailbox == mailbox and c.source.msg_id == msg_id for c in self.inserted.values())

    def insert(self, copy: ForwardCopy) -> None:
        self.inserted[copy.message_id] = copy

    def complete(self, message_id: str, folder: str, number: int | None, events: list[AuditEvent]) -> str | None:
        self.completed.append(message_id)
        return "note-1"

    def discard(self, message_id: str) -> list[str]:
        self.discarded.append(message_id)
        copy = self.inserted.pop(message_id)
        return [r.blob_name for r in copy.recordings]

    def waiting(self, mailbox: MailboxRef) -> dict[str, str]:
        return {}

    def stale(self, older_than_seconds: float) -> list[tuple[str, MailboxRef, str]]:
        return [(mid, c.mailbox, c.source.msg_id) for mid, c in self.inserted.items() if mid not in self.completed]

    def note(self, message_id: str) -> ForwardNote | None:
        return None

    def notification_of(self, message_id: str) -> str | None:
        return None

    def usage(self, mailbox: MailboxRef | None) -> int:
        return 0


@dataclass(frozen=True)
class User:
    new: int = 0
    max_messages: int | None = 100
    fullname: str = "Alice Example"


@dataclass
class Control:
    outcome: str = "copied"  # copied | nothing | error-before | error-after
    copied: bool = False

    def user(self, mailbox: MailboxRef) -> User | None:
        return User() if mailbox.mailbox in ("1001", "1002") else None

    def folder_of(self, mailbox: MailboxRef, msg_id: str) -> str | None:
        return "INBOX"

    def forward(self, source: MailboxRef, folder: str, msg_id: str, to: MailboxRef) -> bool:
        self.copied = self.outcome in ("copied", "error-after")
        if self.outcome.startswith("error"):
            raise AmiError("connection lost")
        return self.outcome == "copied"


@dataclass
class Spool:
    control: Control

    def find(self, mailbox: MailboxRef, msg_id: str, hint: tuple[str, int] | None = None) -> SpoolMessage | None:
        if not self.control.copied:
            return None
        envelope = Envelope(msg_id=msg_id, origmailbox="1001", context="vm-internal", exten="1001", callerid="",
                            origtime=1, duration=3)
        return SpoolMessage(mailbox, "INBOX", 0, "/spool/msg0000.txt", envelope, (AudioFile("wav", "/x.wav"),))

    def is_placeholder(self, message: SpoolMessage, fmt: str) -> bool:
        return True


class Audit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> None:
        self.events.append(event)


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    vault, keyring = FileVault(tmp_path / "vault"), FileKeyring.create(tmp_path / "keyring.json")
    source_id, dek = str(uuid.uuid4()), new_data_key()
    sealed = vault.seal(io.BytesIO(AUDIO), f"{source_id}.wav.a1", dek, source_id.encode())
    record = MessageRecord(id=source_id, mailbox=ALICE_BOX, msg_id="1795979530-00000004", state=STRIPPED,
                           folder="INBOX", origtime=1, duration=3, urgent=False, caller=Caller.external(),
                           wrapped_key=keyring.wrap(dek, source_id.encode()),
                           recordings=(sealed.__class__("wav", sealed.blob_name, sealed.sha256, sealed.size),))
    control = Control()
    rows = Rows()
    forwarder = Forwarder(rows, vault, keyring, control, Spool(control), Audit())
    return {"vault": vault, "keyring": keyring, "record": record, "control": control, "rows": rows,
            "forwarder": forwarder, "dek": dek}


def vault_files(vault: FileVault) -> set[str]:
    return {name for _, name, _ in vault.listing()}


def test_the_copy_is_sealed_again_under_a_key_of_its_own(world: dict[str, Any]) -> None:
    done = world["forwarder"].forward(ALICE, world["record"], "1002", "  call back  ", held=False)
    copy: ForwardCopy = world["rows"].inserted[done.message_id]
    vault, keyring = world["vault"], world["keyring"]
    [rec] = copy.recordings
    key = keyring.unwrap(copy.wrapped, done.message_id.encode())
    assert key != world["dek"]
    with vault.open(rec.blob_name, key, done.message_id.encode()) as reader:
        assert b"".join(reader) == AUDIO
    with pytest.raises(IntegrityError):  # the original's key opens nothing of the copy
        vault.verify(rec.blob_name, world["dek"], world["record"].id.encode(), rec.sha256)
    assert copy.note.comment == "call back" and copy.note.forwarder_label == "Alice Example (1001)"
    assert world["rows"].completed == [done.message_id]


@pytest.mark.parametrize("outcome", ["nothing", "error-before"])
def test_a_copy_asterisk_did_not_make_is_discarded_with_its_blobs(world: dict[str, Any], outcome: str) -> None:
    world["control"].outcome = outcome
    before = vault_files(world["vault"])
    with pytest.raises(Conflict if outcome == "nothing" else AmiError):
        world["forwarder"].forward(ALICE, world["record"], "1002", "", held=False)
    assert len(world["rows"].discarded) == 1 and not world["rows"].inserted and not world["rows"].completed
    assert vault_files(world["vault"]) == before


def test_a_copy_asterisk_made_before_the_connection_broke_is_kept(world: dict[str, Any]) -> None:
    world["control"].outcome = "error-after"
    done = world["forwarder"].forward(ALICE, world["record"], "1002", "", held=True)
    assert done.held and world["rows"].completed == [done.message_id] and not world["rows"].discarded


def test_refusals_before_anything_is_copied(world: dict[str, Any]) -> None:
    forward = world["forwarder"].forward
    before = vault_files(world["vault"])
    with pytest.raises(InvalidInput, match="no mailbox 4040"):
        forward(ALICE, world["record"], "4040", "", held=False)
    with pytest.raises(InvalidInput, match="your own mailbox"):
        forward(ALICE, world["record"], "1001@default", "", held=False)
    with pytest.raises(Conflict, match="still being secured"):
        forward(ALICE, MessageRecord(**{**world["record"].__dict__, "state": "sealed"}), "1002", "", held=False)
    assert vault_files(world["vault"]) == before and not world["rows"].inserted


def test_comments_and_mailbox_names() -> None:
    assert clean_comment("a\r\nb\rc\n") == "a\nb\nc"
    assert clean_comment("x" * COMMENT_LIMIT) == "x" * COMMENT_LIMIT
    for bad in ("x" * (COMMENT_LIMIT + 1), "bell\x07", "esc\x1b[31m", "line\u2028sep", "c1\x85x"):
        with pytest.raises(InvalidInput):
            clean_comment(bad)
    assert parse_recipient(" 2001 ", "default") == MailboxRef("default", "2001")
    assert parse_recipient("2001@sales", "default") == MailboxRef("sales", "2001")
    for bad in ("", "  ", "../2001", "2001@../x", "a b"):
        with pytest.raises(InvalidInput):
            parse_recipient(bad, "default")


@pytest.mark.parametrize("made", [True, False])
def test_a_copy_left_on_its_way_is_settled_by_the_reconciliation(world: dict[str, Any], made: bool) -> None:
    rows, control, forwarder = world["rows"], world["control"], world["forwarder"]
    before = vault_files(world["vault"])
    copy_id = "5f0c3c4e-0000-4000-8000-000000000001"
    wrapped, recordings = forwarder._copy_sealed(world["record"], copy_id)  # as a forward that died after it
    rows.insert(ForwardCopy(copy_id, BOB_BOX, world["record"], wrapped, tuple(recordings),
                            ForwardNote(world["record"].id, "alice", "Alice (1001)", "")))
    control.copied = made
    arrivals = ForwardArrivals(rows, Spool(control), world["vault"], Audit())
    assert arrivals.settle_stale(0) == (0 if made else 1)
    if made:
        assert rows.completed == [copy_id] and vault_files(world["vault"]) > before
    else:
        assert rows.discarded == [copy_id] and vault_files(world["vault"]) == before
