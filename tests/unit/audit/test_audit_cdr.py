"""CDRs from the captured AMI Cdr events: stored through the listener hook, released to a case only
after a second (cleared) person approves, as signed CSV + JSON."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.conftest import CAPTURES
from voicemail.ami.listener import Listener
from voicemail.ami.parser import AmiMessage
from voicemail.audit.access import Actor
from voicemail.audit.cdr import CdrStore, export_cdrs, parse_cdr, request_cdrs
from voicemail.audit.errors import AccessDenied
from voicemail.audit.evidence import verify_package
from voicemail.audit.service import Investigations
from voicemail.audit.signing import SigningKey
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade

CAPTURE = CAPTURES / "q1-voicemail-session.ami.txt"
ADMIN, IVY, CARL, MALLORY = (Actor(n, "cli@test") for n in ("root", "ivy", "carl", "mallory"))


def captured_events() -> list[AmiMessage]:
    out = []
    for block in CAPTURE.read_text(encoding="utf-8").replace("\r\n", "\n").split("\n\n"):
        headers = [tuple(line.split(": ", 1)) if ": " in line else (line.rstrip(":"), "")
                   for line in block.strip().splitlines() if ":" in line]
        if headers and headers[0][0] == "Event":
            out.append(AmiMessage(headers))  # type: ignore[arg-type]
    return out


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    e = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(e)
    return e


def test_cdr_fields_are_read_as_asterisk_sends_them() -> None:
    rows = [r for r in map(parse_cdr, captured_events()) if r]
    assert len(rows) == 2
    assert rows[0]["source"] == "1001" and rows[0]["start_time"] == "2026-11-29 18:55:38"
    assert rows[0]["duration"] == 11 and rows[0]["disposition"] == "ANSWERED"
    assert rows[0]["unique_id"] == "astlab-1795978538.1"


def test_listener_hands_cdr_events_to_the_hook_and_only_those(engine: Engine) -> None:
    store = CdrStore(engine)
    listener = Listener(None, None, lambda _o: None, on_cdr=store.ingest)  # type: ignore[arg-type]
    for event in captured_events():
        listener.on_event(event)
    assert len(store.for_release(["1001"], "2026-11-29", "2026-11-30")) == 2
    assert store.for_release(["1001"], "2026-11-30", "2026-12-01") == []
    assert store.for_release(["9999"], "2026-11-29", "2026-11-30") == []


def test_cdr_release_needs_a_second_cleared_person_and_is_signed(engine: Engine, tmp_path: Path) -> None:
    for event in captured_events():
        CdrStore(engine).ingest(event)
    inv = Investigations(engine)
    inv.access.grant(ADMIN, ADMIN.name, "administrator", "bootstrap")
    inv.access.grant(ADMIN, IVY.name, "investigator", "t")
    inv.access.grant(ADMIN, IVY.name, "cleared_admin", "t")
    inv.access.grant(ADMIN, CARL.name, "cleared_admin", "t")
    inv.access.open_case(IVY, "CI-2026-0142", "OIG", "fraud", numbers=["1001"])
    with pytest.raises(AccessDenied):
        request_cdrs(inv, MALLORY, "CI-2026-0142", "REQ-1", "2026-11-29", "2026-11-30")
    req = request_cdrs(inv, IVY, "CI-2026-0142", "REQ-1", "2026-11-29", "2026-11-30")
    key = SigningKey.create(tmp_path / "k.pem")
    with pytest.raises(AccessDenied, match="not approved"):
        export_cdrs(inv, IVY, req.id, tmp_path / "early", key)
    with pytest.raises(AccessDenied, match="own request"):
        inv.releases.approve(IVY, req.id)
    inv.releases.approve(CARL, req.id)
    with pytest.raises(AccessDenied, match="only the requester"):
        export_cdrs(inv, CARL, req.id, tmp_path / "carl", key)
    out = tmp_path / "release"
    manifest = export_cdrs(inv, IVY, req.id, out, key)
    assert manifest["records"] == 2 and manifest["request"]["approver"] == "carl"
    rows = list(csv.DictReader((out / "cdrs.csv").open(newline="")))
    assert [r["source"] for r in rows] == ["1001", "1001"]
    assert json.loads((out / "cdrs.json").read_text())[0]["unique_id"] == rows[0]["unique_id"]
    assert verify_package(out, key.public) == []
    (out / "cdrs.csv").write_text("forged\r\n")
    assert verify_package(out, key.public) == ["cdrs.csv: SHA-256 does not match the manifest"]
    log = [(e.actor, e.action, e.outcome) for e in inv.audit.events(case_id="CI-2026-0142")]
    for entry in (("mallory", "cdr.request", "denied"), ("ivy", "cdr.approve", "denied"),
                  ("carl", "cdr.approve", "ok"), ("ivy", "cdr.export", "ok"), ("carl", "cdr.export", "denied")):
        assert entry in log
