"""Deleting a message under a legal hold from the telephone (7): the menu runs against the real call port,
mailbox services, PIN store, vault and audit trail (SQLite). The held message is hidden from its owner, not
crypto-shredded; the caller hears "message deleted" as for any other message (the owner is not told of the
hold, as on the web); the audit trail records that it was held and only hidden."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.unit.lifecycle.support import Site, messages, open_audio, seed
from tests.unit.phone.sim import digits, key, run
from voicemail.app import Container
from voicemail.audit.access import Actor
from voicemail.audit.service import Investigations
from voicemail.audit.store import AuditLog
from voicemail.domain.models import MailboxRef
from voicemail.phone.dialog import MenuSettings
from voicemail.phone.menu import CallStart, menu
from voicemail.phone.port import CallPort, PortSettings
from voicemail.phone.staging import StagingDir

PIN = "583920"
BOX = MailboxRef("default", "1001")
ADMIN, IVY = Actor("root-admin", "cli@test"), Actor("ivy", "cli@test")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Container]:
    c = Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}").container()
    try:
        yield c
    finally:
        c.close()


def hold(c: Container, message_id: str) -> None:
    inv = Investigations(c.engine)
    inv.access.grant(ADMIN, ADMIN.name, "administrator", "bootstrap")
    inv.access.grant(ADMIN, IVY.name, "investigator", "setup")
    inv.access.open_case(IVY, "CI-9", "OIG", "fraud")
    inv.holds.place(IVY, "CI-9", "message", message_ids=[message_id], reason="evidence")


def row(c: Container, message_id: str) -> tuple[str, bool, bool]:
    """(state, has its data key, hidden from its owner)."""
    with c.engine.connect() as conn:
        r = conn.execute(select(messages.c.state, messages.c.wrapped_dek, messages.c.hidden_at)
                         .where(messages.c.id == message_id)).one()
    return r.state, r.wrapped_dek is not None, r.hidden_at is not None


def test_deleting_a_held_message_from_the_phone_hides_it_keeps_it_sealed_and_audits_the_hold(
        site: Container, tmp_path: Path) -> None:
    assert site.mailboxes is not None and site.pins is not None
    site.pins.set_pin(BOX, PIN, actor="test", source="test")
    held, held_audio = seed(site, age_days=20)  # the oldest: played first
    free, _ = seed(site, age_days=10)
    hold(site, held)
    port = CallPort(site.mailboxes, site.pins, StagingDir(tmp_path / "stage"), AuditLog(site.engine),
                    PortSettings(tmp_path / "site" / "spool"), lambda _ref: "UTC", source="phone call-1")
    script = [("vm-password", digits(PIN)), ("vm-onefor", key("1")),
              ("CONTROL STREAM FILE", key("7")),  # delete the held one while it plays; the next one plays
              ("CONTROL STREAM FILE", key("7")),  # delete that one too
              ("WAIT FOR DIGIT", key("#"))]
    call = run(menu(CallStart("1001"), MenuSettings()), script, port)  # type: ignore[arg-type]
    port.close()

    deleted = [n for n, c in enumerate(call.commands) if c == 'STREAM FILE vm-deleted "0123456789*#"']
    assert len(deleted) == 2  # the caller hears the same for both
    assert 'STREAM FILE vm-sorry "0123456789*#"' not in call.commands
    assert row(site, held) == ("stripped", True, True)  # hidden, still sealed under its key
    assert open_audio(site, held) == held_audio
    assert row(site, free) == ("destroyed", False, False)  # the other one was crypto-shredded

    events = list(AuditLog(site.engine).iter_all())
    [on_held] = [e for e in events if e.action == "message.delete" and e.message_id == held]
    assert (on_held.actor, on_held.outcome, on_held.source) == ("phone:1001@default", "ok", "phone call-1")
    details = json.loads(on_held.details)
    assert (details["result"], details["held"]) == ("hidden", True)
    assert not [e for e in events if e.action == "message.shred" and e.message_id == held]
    [on_free] = [e for e in events if e.action == "message.delete" and e.message_id == free]
    assert json.loads(on_free.details)["held"] is False
    assert [json.loads(e.details)["step"] for e in events
            if e.action == "message.shred" and e.message_id == free] == ["key", "blobs", "row"]
