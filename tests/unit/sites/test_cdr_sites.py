"""Call detail records of several Asterisks (sites): each listener stores its own Asterisk's Cdr events
under its site, a user's call history holds only the calls of the site their mailbox is on, and a CDR
release may be narrowed to one site, whose manifest, rows and audit events then name it. With one site
the release is exactly as before sites."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from voicemail.ami.listener import Listener
from voicemail.ami.parser import AmiMessage, parse_block
from voicemail.audit.access import Actor
from voicemail.audit.cdr import COLUMNS, CdrStore, export_cdrs, request_cdrs
from voicemail.audit.evidence import verify_package
from voicemail.audit.queries import release_summary
from voicemail.audit.service import Investigations
from voicemail.audit.signing import SigningKey
from voicemail.audit.tables import cdrs
from voicemail.cli import main
from voicemail.db.engine import make_engine
from voicemail.db.mailbox_store import calls_of
from voicemail.db.migrate import upgrade
from voicemail.domain.errors import InvalidMailbox
from voicemail.domain.mailbox import CallHistoryPage, CallScope
from voicemail.domain.models import MailboxRef
from voicemail.services.call_history import call_history, scopes_for

HQ, BRANCH = "hq", "branch"
ADMIN, IVY, CARL = (Actor(n, "cli@test") for n in ("root", "ivy", "carl"))
TEMPLATE = "PJSIP/{number}"
CDR = ("Event: Cdr\r\nPrivilege: cdr,all\r\nSystemName: {system}\r\nAccountCode: \r\nSource: {src}\r\n"
       "Destination: {dst}\r\nDestinationContext: internal\r\nCallerID: \"\" <{src}>\r\nChannel: {chan}-0000000{n}\r\n"
       "DestinationChannel: PJSIP/{dst}-0000001{n}\r\nLastApplication: Dial\r\nLastData: PJSIP/{dst},30\r\n"
       "StartTime: {at}\r\nAnswerTime: {at}\r\nEndTime: {at}\r\nDuration: 20\r\nBillableSeconds: 15\r\n"
       "Disposition: {disp}\r\nAMAFlags: DOCUMENTATION\r\nUniqueID: {system}-1795978538.{n}\r\nUserField: \r\n")
# the same extension 1001 on two Asterisks: each PBX's calls, as its own AMI reports them
HQ_CALLS = [("+12025550111", "1001", "PJSIP/trunk", "2026-11-29 09:00:00", "ANSWERED"),
            ("1001", "1002", "PJSIP/1001", "2026-11-29 10:00:00", "ANSWERED")]
BRANCH_CALLS = [("+442071234567", "1001", "PJSIP/trunk", "2026-11-29 09:30:00", "NO ANSWER"),
                ("1001", "2002", "PJSIP/1001", "2026-11-29 11:00:00", "ANSWERED")]


def events(system: str, calls: list[tuple[str, str, str, str, str]]) -> list[AmiMessage]:
    return [parse_block(CDR.format(system=system, src=src, dst=dst, chan=chan, at=at, disp=disp, n=n))
            for n, (src, dst, chan, at, disp) in enumerate(calls)]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    e = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(e, default_site=HQ)
    listeners = {HQ: Listener(None, None, lambda _o: None, on_cdr=CdrStore(e, HQ).ingest),  # type: ignore[arg-type]
                 BRANCH: Listener(None, None, lambda _o: None, on_cdr=CdrStore(e, BRANCH).ingest)}  # type: ignore[arg-type]
    for event in events("pbx-hq", HQ_CALLS):
        listeners[HQ].on_event(event)
    for event in events("pbx-branch", BRANCH_CALLS):
        listeners[BRANCH].on_event(event)
    return e


def history(engine: Engine, mailboxes: tuple[MailboxRef, ...], numbers: tuple[str, ...]) -> CallHistoryPage:
    scopes = scopes_for(numbers, mailboxes, TEMPLATE, HQ)
    return call_history(lambda sc, o, lim: calls_of(engine, sc, o, lim), scopes, 0, 50)


def investigations(engine: Engine) -> Investigations:
    inv = Investigations(engine, default_site=HQ)
    inv.access.grant(ADMIN, ADMIN.name, "administrator", "bootstrap")
    inv.access.grant(ADMIN, IVY.name, "investigator", "t")
    inv.access.grant(ADMIN, CARL.name, "cleared_admin", "t")
    inv.access.open_case(IVY, "CI-7", "OIG", "fraud", numbers=["1001"])
    return inv


def test_two_listeners_store_the_same_extension_s_calls_each_under_its_own_site(engine: Engine) -> None:
    with engine.connect() as conn:
        stored = sorted((r.site, r.system_name, r.source, r.destination) for r in conn.execute(select(cdrs)))
    assert stored == [(BRANCH, "pbx-branch", "+442071234567", "1001"), (BRANCH, "pbx-branch", "1001", "2002"),
                      (HQ, "pbx-hq", "+12025550111", "1001"), (HQ, "pbx-hq", "1001", "1002")]
    store = CdrStore(engine)
    assert [r["site"] for r in store.for_release(["1001"], "2026-11-29", "2026-11-30")] == [HQ, BRANCH, HQ, BRANCH]
    assert [r["destination"] for r in store.for_release(["1001"], "2026-11-29", "2026-11-30", BRANCH)] == [
        "1001", "2002"]


def test_a_mailbox_s_call_history_holds_only_its_own_site_s_calls(engine: Engine) -> None:
    alice = history(engine, (MailboxRef("default", "1001"),), ("1001",))  # no site named: the default site
    dora = history(engine, (MailboxRef("default", "1001", BRANCH),), ("1001",))
    assert [(c.site, c.at[11:16], c.direction, c.other_party) for c in alice.items] == [
        (HQ, "10:00", "placed", "1002"), (HQ, "09:00", "received", "+12025550111")]
    assert [(c.site, c.at[11:16], c.direction, c.other_party) for c in dora.items] == [
        (BRANCH, "11:00", "placed", "2002"), (BRANCH, "09:30", "missed", "+442071234567")]
    assert (alice.total, dora.total) == (2, 2)
    # numbers without a mailbox are the default site's (the directory's extensions)
    assert {c.site for c in history(engine, (), ("1001",)).items} == {HQ}


def test_a_person_with_mailboxes_on_two_sites_sees_each_number_on_its_own_site(engine: Engine) -> None:
    boxes = (MailboxRef("default", "1002"), MailboxRef("default", "1001", BRANCH))
    assert scopes_for(("1001", "1002", "+15550001"), boxes, TEMPLATE, HQ) == (
        CallScope(BRANCH, ("+15550001", "1001"), ("PJSIP/+15550001", "PJSIP/1001")),
        CallScope(HQ, ("+15550001", "1002"), ("PJSIP/+15550001", "PJSIP/1002")))
    page = history(engine, boxes, ("1001", "1002"))
    # hq's 1001 is someone else's phone: only its call to 1002 (this person's hq mailbox) is listed, received
    assert [(c.site, c.at[11:16], c.direction) for c in page.items] == [
        (BRANCH, "11:00", "placed"), (HQ, "10:00", "received"), (BRANCH, "09:30", "missed")]


def test_a_cdr_release_for_one_site_names_it_in_the_request_manifest_rows_and_audit(engine: Engine,
                                                                                   tmp_path: Path) -> None:
    inv = investigations(engine)
    with pytest.raises(InvalidMailbox):
        request_cdrs(inv, IVY, "CI-7", "REQ-0", "2026-11-29", "2026-11-30", site="../hq")
    req = request_cdrs(inv, IVY, "CI-7", "REQ-1", "2026-11-29", "2026-11-30", site=BRANCH)
    assert release_summary(req) == "call records of 1001 on site branch from 2026-11-29 to 2026-11-30"
    inv.releases.approve(CARL, req.id)
    key = SigningKey.create(tmp_path / "k.pem")
    out = tmp_path / "release"
    manifest = export_cdrs(inv, IVY, req.id, out, key, several_sites=True)
    assert (manifest["site"], manifest["sites"], manifest["records"]) == (BRANCH, [BRANCH], 2)
    rows = list(csv.DictReader((out / "cdrs.csv").open(newline="")))
    assert [(r["site"], r["system_name"]) for r in rows] == [(BRANCH, "pbx-branch")] * 2
    assert list(rows[0]) == [*COLUMNS, "site"]
    assert {r["site"] for r in json.loads((out / "cdrs.json").read_text())} == {BRANCH}
    assert json.loads((out / "manifest.json").read_text())["site"] == BRANCH
    assert verify_package(out, key.public) == []
    details = {e.action: json.loads(e.details) for e in inv.audit.events(case_id="CI-7") if e.outcome == "ok"}
    assert details["cdr.request"]["site"] == BRANCH and details["cdr.request"]["numbers"] == ["1001"]
    assert details["cdr.export"] == {"request": req.id, "records": 2, "site": BRANCH}


def test_an_every_site_release_names_each_record_s_site(engine: Engine, tmp_path: Path) -> None:
    inv = investigations(engine)
    req = request_cdrs(inv, IVY, "CI-7", "REQ-2", "2026-11-29", "2026-11-30")
    assert "site" not in req.params and " on site " not in release_summary(req)
    inv.releases.approve(CARL, req.id)
    out = tmp_path / "all"
    manifest = export_cdrs(inv, IVY, req.id, out, SigningKey.create(tmp_path / "k.pem"), several_sites=True)
    assert (manifest["site"], manifest["sites"], manifest["records"]) == (None, [BRANCH, HQ], 4)
    assert [r["site"] for r in csv.DictReader((out / "cdrs.csv").open(newline=""))] == [HQ, BRANCH, HQ, BRANCH]
    [export] = [e for e in inv.audit.events(case_id="CI-7") if e.action == "cdr.export"]
    assert json.loads(export.details)["sites"] == [BRANCH, HQ]


def test_with_one_site_a_release_is_as_before_sites(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    upgrade(engine)
    for event in events("pbx", HQ_CALLS):
        CdrStore(engine).ingest(event)
    inv = investigations(engine)
    req = request_cdrs(inv, IVY, "CI-7", "REQ-3", "2026-11-29", "2026-11-30")
    inv.releases.approve(CARL, req.id)
    out = tmp_path / "one"
    manifest = export_cdrs(inv, IVY, req.id, out, SigningKey.create(tmp_path / "k.pem"))
    assert "site" not in manifest and "sites" not in manifest and manifest["records"] == 2
    assert (out / "cdrs.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    assert all("site" not in r for r in json.loads((out / "cdrs.json").read_text()))
    [export] = [e for e in inv.audit.events(case_id="CI-7") if e.action == "cdr.export"]
    assert json.loads(export.details) == {"request": req.id, "records": 2}


def test_the_cli_requests_and_exports_one_site_s_cdrs_and_refuses_an_unknown_site(engine: Engine,
                                                                                 tmp_path: Path) -> None:
    env = {"VOICEMAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'vm.db'}", "VOICEMAIL_SITE_NAME": HQ,
           "VOICEMAIL_SITES": BRANCH, "VOICEMAIL_AUDIT_SIGNING_KEY": str(tmp_path / "keys" / "audit.pem"),
           "VOICEMAIL_LOG_LEVEL": "ERROR"}

    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.output

    run("keys", "init-signing")
    run("role", "grant", "root", "administrator", "--reason", "bootstrap", "--actor", "root")
    for who, role in (("ivy", "investigator"), ("carl", "cleared_admin")):
        run("role", "grant", who, role, "--reason", "appointed", "--actor", "root")
    run("case", "open", "--number", "CI-8", "--authority", "OIG", "--reason", "fraud", "--phone", "1001",
        "--actor", "ivy")
    request = ("cdr", "request", "--case", "CI-8", "--ref", "OIG-8", "--from", "2026-11-29", "--to", "2026-11-30")
    assert "unknown site 'brnach'" in run(*request, "--site", "brnach", "--actor", "ivy", code=1)
    req = run(*request, "--site", BRANCH, "--actor", "ivy").split()[1]
    run("cdr", "approve", req, "--actor", "carl")
    out = tmp_path / "release"
    assert "2 record(s)" in run("cdr", "export", req, "-o", str(out), "--actor", "ivy")
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["site"], manifest["sites"]) == (BRANCH, [BRANCH])
