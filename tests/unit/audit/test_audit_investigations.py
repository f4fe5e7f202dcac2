"""Roles, cases, holds, the two-person rule and evidence packages on a real custody world (SQLite,
vault, keyring, spool): seal -> request -> approve -> export -> verify offline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.unit.core.test_custody import BOX, World
from voicemail.audit.access import Actor
from voicemail.audit.errors import AccessDenied, HeldError
from voicemail.audit.evidence import verify_package
from voicemail.audit.service import Investigations
from voicemail.audit.signing import SigningKey
from voicemail.domain.errors import InvalidInput, NotFound
from voicemail.domain.models import MailboxRef

ADMIN, IVY, IAN, CARL, CLARA = (Actor(n, "cli@test") for n in ("root-admin", "ivy", "ian", "carl", "clara"))


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.discovery.reconcile()
    for mid in w.enqueued:
        w.custody.seal(mid)
        w.custody.strip(mid)
    return w


@pytest.fixture
def inv(world: World) -> Investigations:
    engine = world.store._sessions.kw["bind"]  # the World's engine
    inv = Investigations(engine)
    inv.access.grant(ADMIN, ADMIN.name, "administrator", "bootstrap")
    for actor, role in ((IVY, "investigator"), (IAN, "investigator"), (CARL, "cleared_admin"),
                        (CLARA, "cleared_admin"), (CLARA, "investigator")):
        inv.access.grant(ADMIN, actor.name, role, "test setup")
    inv.access.open_case(IVY, "CI-2026-0142", "Office of Inspector General", "fraud", numbers=["1001"])
    return inv


def actions(inv: Investigations, case_id: str | None = None) -> list[tuple[str, str, str]]:
    """What people did (the service's own custody.* records are left out)."""
    return [(e.actor, e.action, e.outcome) for e in inv.audit.events(case_id=case_id)
            if not e.action.startswith("custody.")]


def test_role_grants_need_an_administrator_and_are_audited(inv: Investigations) -> None:
    with pytest.raises(AccessDenied):
        inv.access.grant(IVY, IAN.name, "cleared_admin", "please")
    with pytest.raises(AccessDenied, match="themselves"):
        inv.access.grant(ADMIN, ADMIN.name, "cleared_admin", "me too")
    assert inv.access.roles_of(CLARA.name) == {"cleared_admin", "investigator"}
    log = actions(inv)
    assert log[0] == ("root-admin", "role.grant", "ok")
    assert ("ivy", "role.grant", "denied") in log and ("root-admin", "role.grant", "denied") in log


def test_case_open_needs_the_investigator_role(inv: Investigations) -> None:
    with pytest.raises(AccessDenied):
        inv.access.open_case(CARL, "CI-2026-0143", "IG", "curious")
    case = inv.access.case("CI-2026-0142")
    assert (case.owner, case.members, case.status) == ("ivy", ("ivy",), "open")
    assert ("carl", "case.open", "denied") in actions(inv)


def test_self_approval_and_non_cleared_approval_are_refused_and_audited(world: World, inv: Investigations) -> None:
    inv.access.add_member(IVY, "CI-2026-0142", CLARA.name)
    req = inv.request_evidence(CLARA, "CI-2026-0142", "OIG-REQ-7", [world.enqueued[0]], world.store)
    with pytest.raises(AccessDenied, match="own request"):
        inv.releases.approve(CLARA, req.id)  # cleared admin, but the requester
    with pytest.raises(AccessDenied, match="cleared_admin"):
        inv.releases.approve(IAN, req.id)  # not a cleared admin
    with pytest.raises(AccessDenied, match="not approved"):
        inv.export_evidence(CLARA, req.id, world.root / "pkg", store=world.store, vault=world.vault,
                            keyring=world.keyring, key=SigningKey.create(world.root / "sign.pem"))
    assert inv.releases.approve(CARL, req.id).status == "approved"
    log = actions(inv, case_id="CI-2026-0142")
    assert ("clara", "evidence.approve", "denied") in log and ("ian", "evidence.approve", "denied") in log
    assert log[-1] == ("carl", "evidence.approve", "ok")


def test_non_member_cannot_request_evidence(world: World, inv: Investigations) -> None:
    with pytest.raises(AccessDenied, match="not a member"):
        inv.request_evidence(IAN, "CI-2026-0142", "R-1", [world.enqueued[0]], world.store)


@pytest.fixture
def package(world: World, inv: Investigations) -> Path:
    req = inv.request_evidence(IVY, "CI-2026-0142", "OIG-REQ-7", world.enqueued[:2], world.store)
    inv.releases.approve(CARL, req.id, "written request on file")
    out = world.root / "evidence" / "CI-2026-0142-1"
    inv.export_evidence(IVY, req.id, out, store=world.store, vault=world.vault, keyring=world.keyring,
                        key=SigningKey.create(world.root / "sign.pem"))
    return out


def test_evidence_round_trip_is_bit_identical_and_verifies_offline(world: World, package: Path) -> None:
    assert verify_package(package) == []
    assert verify_package(package, SigningKey.load(world.root / "sign.pem").public) == []
    for mid in world.enqueued[:2]:
        record = world.store.get(mid)
        audio = (package / "messages" / mid / "audio.wav").read_bytes()
        assert hashlib.sha256(audio).hexdigest() == record.recordings[0].sha256
        assert audio in world.audio.values()
        assert (package / "messages" / mid / "envelope.txt").read_bytes().startswith(b";")
        custody = (package / "messages" / mid / "custody.jsonl").read_text()
        assert '"evidence.export"' in custody


@pytest.mark.parametrize("name", ["manifest.json", "manifest.sig", "audio.wav", "envelope.txt", "custody.jsonl"])
def test_one_flipped_byte_in_any_file_is_named(world: World, package: Path, name: str) -> None:
    path = package / name if name.startswith("manifest") else package / "messages" / world.enqueued[0] / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    problems = verify_package(package)
    assert problems and all(name in p or "manifest.sig" in p for p in problems), problems
    assert any(name in p for p in problems)


def test_package_signed_by_another_key_is_refused(world: World, package: Path) -> None:
    other = SigningKey.create(world.root / "other.pem")
    assert verify_package(package, other.public) == ["manifest.sig: the signature does not match manifest.json"]


def test_held_messages_are_skipped_by_every_deletion_path(world: World, inv: Investigations) -> None:
    first, second, third = (world.store.get(m) for m in world.enqueued)
    inv.holds.place(IVY, "CI-2026-0142", "message", message_ids=[first.id], reason="evidence")
    assert inv.holds.is_held(first) and not inv.holds.is_held(second)
    with pytest.raises(HeldError):
        inv.holds.ensure_not_held(first)  # owner delete
    assert [m.id for m in inv.holds.unheld([first, second, third])] == [second.id, third.id]  # retention, quota
    [hold] = inv.holds.place(IVY, "CI-2026-0142", "mailbox", mailbox=BOX)
    assert inv.holds.unheld([first, second, third]) == []
    inv.holds.release(IVY, hold)
    assert len(inv.holds.unheld([first, second, third])) == 2
    assert [e.action for e in inv.audit.events(message_id=first.id)].count("hold.place") == 1


def test_time_range_hold_covers_only_its_window(world: World, inv: Investigations) -> None:
    records = sorted((world.store.get(m) for m in world.enqueued), key=lambda r: r.origtime)
    t = records[0].origtime
    inv.holds.place(IVY, "CI-2026-0142", "range", mailbox=MailboxRef("default", "2001"), start_at=t, end_at=t + 1)
    held = [r for r in records if inv.holds.is_held(r)]
    assert held and all(r.origtime == t for r in held)
    inv.holds.place(IVY, "CI-2026-0142", "range", mailbox=MailboxRef("other", "9999"), start_at=0)
    assert [r for r in records if inv.holds.is_held(r)] == held


@pytest.mark.parametrize(("scope", "kw", "message"), [
    ("case", {"mailbox": BOX}, "unknown hold scope 'case' (mailbox, range or message)"),
    ("mailbox", {}, "a mailbox hold needs --mailbox"),
    ("message", {"mailbox": BOX}, "a message hold needs at least one message id"),
    ("range", {"mailbox": BOX}, "a time-range hold needs a start or an end"),
])
def test_malformed_hold_request_is_refused_with_its_reason_and_changes_nothing(
        inv: Investigations, scope: str, kw: dict[str, object], message: str) -> None:
    before = len(inv.audit.events())
    with pytest.raises(InvalidInput) as refused:
        inv.holds.place(IVY, "CI-2026-0142", scope, **kw)  # type: ignore[arg-type]
    assert str(refused.value) == message
    assert inv.holds.active() == [] and len(inv.audit.events()) == before


def test_placing_and_releasing_a_hold_is_audited_with_what_it_covers(world: World, inv: Investigations) -> None:
    ids = inv.holds.place(IVY, "CI-2026-0142", "range", mailbox=BOX, start_at=100, end_at=200, reason="evidence")
    [held] = inv.holds.active()
    assert ids == [held.id]
    assert (held.case_id, held.scope, held.mailbox, held.message_id, held.start_at, held.end_at) == \
        ("CI-2026-0142", "range", BOX, None, 100, 200)
    inv.holds.release(IVY, held.id, "case closed")
    assert inv.holds.active() == []
    place, release = [e for e in inv.audit.events(case_id="CI-2026-0142") if e.action.startswith("hold.")]
    assert (place.actor, place.source, place.outcome, place.reason, place.message_id) == \
        ("ivy", "cli@test", "ok", "evidence", None)
    assert json.loads(place.details) == {"hold": held.id, "scope": "range", "mailbox": str(BOX),
                                         "start_at": 100, "end_at": 200}
    assert (release.actor, release.source, release.outcome, release.reason, release.case_id) == \
        ("ivy", "cli@test", "ok", "case closed", "CI-2026-0142")
    assert json.loads(release.details) == {"hold": held.id}


def test_a_message_hold_is_one_hold_per_message_each_audited_on_its_message(
        world: World, inv: Investigations) -> None:
    first, second = world.enqueued[:2]
    ids = inv.holds.place(IVY, "CI-2026-0142", "message", message_ids=[first, second])
    assert len(set(ids)) == 2
    assert sorted((h.message_id, h.mailbox) for h in inv.holds.active()) == sorted([(first, None), (second, None)])
    inv.holds.release(IVY, ids[1])
    [release] = [e for e in inv.audit.events(message_id=second) if e.action == "hold.release"]
    assert release.case_id == "CI-2026-0142"


def test_releasing_an_unknown_or_released_hold_is_not_found_and_a_non_member_is_refused(
        inv: Investigations) -> None:
    [hold] = inv.holds.place(IVY, "CI-2026-0142", "mailbox", mailbox=BOX)
    with pytest.raises(AccessDenied):
        inv.holds.release(IAN, hold)  # an investigator, but not on this case
    assert [h.id for h in inv.holds.active()] == [hold]
    assert ("ian", "hold.release", "denied") in actions(inv)
    inv.holds.release(IVY, hold)
    with pytest.raises(NotFound, match=f"no active hold {hold}"):
        inv.holds.release(IVY, hold)
    with pytest.raises(NotFound):
        inv.holds.release(IVY, "no-such-hold")
