"""Crypto-shredding step by step on a real site (SQLite, keyring, vault with sealed blobs, holds and the
audit chain): what each step leaves behind, what it writes to the audit trail, how a legal hold stops it
(before the check, between the check and the key, or too late once the key is gone), and what the
Asterisk envelope step asks of the AMI (a recording stand-in for ``VoicemailRemove``)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from tests.unit.lifecycle.support import Site, keys_of, messages, open_audio, recordings, seed
from voicemail.app import Container
from voicemail.audit.access import Access, Actor
from voicemail.audit.holds import Holds
from voicemail.audit.service import Investigations
from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_sessionmaker
from voicemail.db.mailbox_store import SqlMailboxStore
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import MessageRecord
from voicemail.services.shred import CryptoShredder
from voicemail.vault import new_data_key

BOX = MailboxRef("default", "1001")
ADMIN, IVY = Actor("root-admin", "cli@test"), Actor("ivy", "cli@test")
CASE = "CI-2026-0101"


class RecordingRemove:
    """Asterisk's side of step 3: answers ``removed`` and remembers what it was asked to remove."""

    def __init__(self, removed: bool = True) -> None:
        self.removed = removed
        self.asked: list[tuple[MailboxRef, str]] = []

    def remove(self, mailbox: MailboxRef, msg_id: str) -> bool:
        self.asked.append((mailbox, msg_id))
        return self.removed


class StaleCheck:
    """A hold check that answered "not held" just before an investigator's hold was committed."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def is_held(self, message: MessageRecord) -> bool:
        self.asked.append(message.id)
        return False


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Container]:
    c = Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}").container()
    try:
        yield c
    finally:
        c.close()


def shredder(c: Container, control: RecordingRemove | None, holds: object = None) -> CryptoShredder:
    audit = AuditLog(c.engine)
    store = SqlMailboxStore(make_sessionmaker(c.engine), make_sessionmaker(c.engine))
    return CryptoShredder(store, c.vault, holds or Holds(c.engine, Access(c.engine, audit)),  # type: ignore[arg-type]
                          audit, control)


def shred_events(c: Container, message_id: str) -> list[tuple[str, str, str, str, str, dict[str, object]]]:
    return [(e.actor, e.outcome, e.source, e.reason, e.message_id or "", json.loads(e.details))
            for e in AuditLog(c.engine).events(message_id=message_id) if e.action == "message.shred"]


def state_of(c: Container, message_id: str) -> tuple[str, object, bytes, int]:
    with c.engine.connect() as conn:
        row = conn.execute(select(messages.c.state, messages.c.wrapped_dek, messages.c.envelope)
                           .where(messages.c.id == message_id)).one()
        blobs = conn.execute(select(recordings.c.blob_name).where(recordings.c.message_id == message_id)).all()
    return row.state, row.wrapped_dek, bytes(row.envelope), len(blobs)


def msg_id_of(c: Container, message_id: str) -> str:
    with c.engine.connect() as conn:
        return str(conn.execute(select(messages.c.msg_id).where(messages.c.id == message_id)).scalar_one())


def add_recording(c: Container, message_id: str, fmt: str) -> str:
    """A second format of the same message (Asterisk's ``format=wav|gsm``), its own sealed blob."""
    blob = f"{message_id}.{fmt}.seed"
    rec = c.vault.seal(io.BytesIO(b"second format"), blob, new_data_key(), message_id.encode())
    with c.engine.begin() as conn:
        conn.execute(insert(recordings).values(message_id=message_id, fmt=fmt, blob_name=blob, sha256=rec.sha256,
                                               size=rec.size))
    return blob


def hold_message(c: Container, message_id: str) -> None:
    inv = Investigations(c.engine)
    inv.access.grant(ADMIN, ADMIN.name, "administrator", "bootstrap")
    inv.access.grant(ADMIN, IVY.name, "investigator", "setup")
    inv.access.open_case(IVY, CASE, "OIG", "fraud")
    inv.holds.place(IVY, CASE, "message", message_ids=[message_id], reason="evidence")


def test_every_step_is_done_and_audited_with_what_it_did(site: Container) -> None:
    mid, _audio = seed(site, age_days=800)
    blobs = [f"{mid}.wav.seed", add_recording(site, mid, "gsm")]
    amid = RecordingRemove()
    assert shredder(site, amid).shred(mid, actor="retention", source="beat@host", reason="expired") == "destroyed"
    assert state_of(site, mid) == ("destroyed", None, b"", 0)
    assert not any(site.vault.exists(b) for b in blobs)
    assert amid.asked == [(BOX, msg_id_of(site, mid))]
    where = ("retention", "ok", "beat@host", "expired", mid)
    assert shred_events(site, mid) == [
        (*where, {"step": "key", "mailbox": "1001@default"}),
        (*where, {"step": "blobs", "mailbox": "1001@default", "count": 2}),
        (*where, {"step": "spool", "mailbox": "1001@default", "removed": True}),
        (*where, {"step": "row", "mailbox": "1001@default"})]


def test_an_envelope_asterisk_no_longer_lists_is_fine(site: Container) -> None:
    mid, _audio = seed(site, age_days=1, mailbox="1002")
    amid = RecordingRemove(removed=False)
    assert shredder(site, amid).shred(mid, actor="alice", source="198.51.100.4", reason="delete") == "destroyed"
    assert state_of(site, mid)[0] == "destroyed"
    assert amid.asked == [(MailboxRef("default", "1002"), msg_id_of(site, mid))]
    assert [d for *_, d in shred_events(site, mid)][2] == {"step": "spool", "mailbox": "1002@default",
                                                           "removed": False}


def test_without_an_ami_the_envelope_is_left_to_asterisk_and_said_so(site: Container,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    mid, _audio = seed(site, age_days=800)
    with caplog.at_level(logging.INFO, logger="voicemail.services.shred"):
        assert shredder(site, None).shred(mid, actor="retention", source="beat", reason="expired") == "destroyed"
    assert state_of(site, mid)[0] == "destroyed"
    assert [d["step"] for *_, d in shred_events(site, mid)] == ["key", "blobs", "row"]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", f"message {mid}: no AMI configured; its spool envelope was left to Asterisk"),
        ("INFO", f"message {mid} crypto-shredded")]


def test_a_long_reason_is_audited_cut_at_500_characters(site: Container) -> None:
    mid, _audio = seed(site, age_days=800)
    reason = "r" * 499 + "st" + "x" * 100
    assert shredder(site, RecordingRemove()).shred(mid, actor="retention", source="beat", reason=reason) == "destroyed"
    assert {r for _a, _o, _s, r, _m, _d in shred_events(site, mid)} == {"r" * 499 + "s"}


def test_a_held_message_is_refused_audited_and_left_as_it_was(site: Container) -> None:
    mid, audio = seed(site, age_days=800)
    hold_message(site, mid)
    amid = RecordingRemove()
    assert shredder(site, amid).shred(mid, actor="retention", source="beat", reason="expired") == "held"
    assert shred_events(site, mid) == [("retention", "denied", "beat", "expired", mid,
                                        {"step": "refused", "mailbox": "1001@default", "why": "held"})]
    assert state_of(site, mid)[0] == "stripped" and mid in keys_of(site) and open_audio(site, mid) == audio
    assert amid.asked == []


def test_a_hold_committed_after_the_check_keeps_the_key(site: Container) -> None:
    """The first check answered before the hold was committed; the check made with the key's destruction,
    under the lock, sees it: refused, audited, nothing changed."""
    mid, audio = seed(site, age_days=800)
    hold_message(site, mid)
    stale, amid = StaleCheck(), RecordingRemove()
    assert shredder(site, amid, stale).shred(mid, actor="owner", source="web", reason="delete") == "held"
    assert stale.asked == [mid]
    assert shred_events(site, mid) == [("owner", "denied", "web", "delete", mid,
                                        {"step": "refused", "mailbox": "1001@default", "why": "held"})]
    assert mid in keys_of(site) and open_audio(site, mid) == audio and state_of(site, mid)[3] == 1
    assert amid.asked == []


def test_a_hold_placed_once_the_key_is_gone_does_not_stop_the_rest(site: Container) -> None:
    """A shred that stopped after step 1 (crash, AMI outage) is resumed even if a hold arrived since: the
    audio can no longer be decrypted, so the hold has nothing left to keep; the holds are not asked."""
    mid, _audio = seed(site, age_days=800)
    store = SqlMailboxStore(make_sessionmaker(site.engine), make_sessionmaker(site.engine))
    assert store.destroy_key(mid)
    hold_message(site, mid)
    stale, amid = StaleCheck(), RecordingRemove()
    assert shredder(site, amid).shred(mid, actor="retention", source="beat", reason="expired") == "destroyed"
    assert state_of(site, mid)[0] == "destroyed" and not site.vault.exists(f"{mid}.wav.seed")
    assert [d["step"] for *_, d in shred_events(site, mid)] == ["key", "blobs", "spool", "row"]
    # and the first hold check is skipped for it
    other, _ = seed(site, age_days=800)
    assert store.destroy_key(other)
    assert shredder(site, amid, stale).shred(other, actor="retention", source="beat", reason="x") == "destroyed"
    assert stale.asked == []


def test_what_is_gone_or_was_never_there_is_already_shredded_and_not_audited(site: Container) -> None:
    mid, _audio = seed(site, age_days=800)
    s, amid = shredder(site, RecordingRemove()), RecordingRemove()
    assert s.shred(mid, actor="retention", source="beat", reason="expired") == "destroyed"
    before = len(shred_events(site, mid))
    again = shredder(site, amid)
    assert again.shred(mid, actor="retention", source="beat", reason="expired") == "already"
    assert again.shred("00000000-0000-4000-8000-000000000000", actor="retention", source="beat",
                       reason="expired") == "already"
    assert len(shred_events(site, mid)) == before and amid.asked == []
