"""The investigation pages: /audit (auditor), /cases (investigator), /approvals (cleared administrator), on the real
web app, the real Investigations services and a message sealed by the custody pipeline. The web user name
is the investigation principal; every act is audited as that user from the client's address."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.integration.mailbox.harness import ROOT
from tests.integration.web.web_harness import BASE, PASSWORD, WebSite, csrf, pg_database, sign_in, web_site
from voicemail.audit.access import Actor
from voicemail.audit.chain import AuditEvent, ChainedEvent
from voicemail.audit.queries import releases_of_case
from voicemail.audit.release import ReleaseRequest
from voicemail.audit.service import Investigations
from voicemail.audit.signing import SigningKey

SOURCE = "testclient"  # the client address Starlette's TestClient connects from
# web user -> investigation roles granted to that principal name (the web accounts themselves hold no web role)
PEOPLE: dict[str, tuple[str, ...]] = {"audrey": ("auditor",), "ivan": ("investigator",), "ines": ("investigator",),
                                      "clara": ("cleared_admin",), "carl": ("investigator", "cleared_admin")}
PAGES = ("/audit", "/cases", "/approvals")
WHO = ("anonymous", "alice", "admin", "audrey", "ivan", "clara")
ALLOWED = {"/audit": "audrey", "/cases": "ivan", "/approvals": "clara"}
ROW_SEQ = re.compile(r'<th scope="row">(\d+)</th>')


def _populate(site: WebSite) -> Investigations:
    inv = site.box.investigations()  # bootstraps the administrator ROOT
    for name, roles in PEOPLE.items():
        site.deps.accounts.add(name, roles=(), password=PASSWORD)
        for role in roles:
            inv.access.grant(ROOT, name, role, "test setup")
    return inv


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp(f"investigation-{request.param}")
    key = tmp / "keys" / "audit-signing.pem"
    SigningKey.create(key)
    with ExitStack() as stack:
        url = stack.enter_context(pg_database()) if request.param == "postgresql" else f"sqlite:///{tmp / 'db.sqlite'}"
        s = stack.enter_context(web_site(tmp, url, audit_signing_key=str(key)))
        _populate(s)
        yield s


def signed_in(site: WebSite, who: str) -> tuple[TestClient, str]:
    client = site.client()
    token = csrf(client) if who == "anonymous" else sign_in(client, who)
    return client, token


def post(client: TestClient, path: str, token: str | None, **form: str) -> int:
    data = dict(form, **({"csrf_token": token} if token is not None else {}))
    status: int = client.post(path, data=data, headers={"Origin": BASE}, follow_redirects=False).status_code
    return status


def events(site: WebSite, **query: str) -> list[ChainedEvent]:
    inv = site.deps.investigations
    assert inv is not None
    return inv.audit.events(**query)  # type: ignore[arg-type]


def acts(site: WebSite, actor: str) -> list[tuple[str, str, str]]:
    return [(e.action, e.outcome, e.source) for e in events(site, actor=actor)]


@pytest.mark.parametrize("who", WHO)
def test_each_page_is_shown_only_to_its_role_and_refusals_are_audited(site: WebSite, who: str) -> None:
    client, _ = signed_in(site, who)
    before = len(events(site, actor=who))
    got = {page: client.get(page, follow_redirects=False).status_code for page in PAGES}
    want = {page: 303 if who == "anonymous" else 200 if ALLOWED[page] == who else 404 for page in PAGES}
    assert got == want
    if who == "anonymous":
        assert client.get("/audit", follow_redirects=False).headers["location"] == "/signin?next=%2Faudit"
        return
    refused = [e for e in events(site, actor=who)[before:] if e.outcome == "denied"]
    assert len(refused) == sum(1 for page in PAGES if ALLOWED[page] != who)
    assert all(e.source == SOURCE and "does not hold" in e.reason for e in refused)


def test_navigation_links_appear_only_for_the_roles_held(site: WebSite) -> None:
    links = {}
    for who in ("alice", "audrey", "ivan", "clara", "carl"):
        client, _ = signed_in(site, who)
        text = client.get("/settings").text
        links[who] = {page for page in PAGES if f'href="{page}"' in text}
    assert links == {"alice": set(), "audrey": {"/audit"}, "ivan": {"/cases"}, "clara": {"/approvals"},
                     "carl": {"/cases", "/approvals"}}


def test_auditor_finds_the_custody_history_of_a_message_newest_first(site: WebSite) -> None:
    mid, _ = site.leave(seed=501)
    site.box.hold(mid)  # a hold placed by the harness's investigator, then the owner listens: two custody events
    owner, _ = signed_in(site, "alice")
    assert owner.get(f"/api/v1/messages/{mid}/audio").status_code == 200
    client, _ = signed_in(site, "audrey")
    page = client.get(f"/audit?message={mid}")
    assert page.status_code == 200
    want = [e.seq for e in reversed(events(site, message_id=mid))]
    assert len(want) >= 2 and [int(s) for s in ROW_SEQ.findall(page.text)] == want
    assert "hold.place" in page.text
    assert client.get("/audit?actor=no-such-person").text.count('id="no-events"') == 1
    viewed = [e for e in events(site, actor="audrey") if e.action == "audit.view"]
    assert viewed[-2].source == SOURCE and f'"message":"{mid}"' in viewed[-2].details


def test_audit_search_pages_through_many_events(site: WebSite) -> None:
    inv = site.deps.investigations
    assert inv is not None
    inv.audit.append_many([AuditEvent(actor="paging-test", action="audio.play", source="host", details={"i": i})
                           for i in range(60)])
    client, _ = signed_in(site, "audrey")
    first = client.get("/audit?actor=paging-test").text
    second = client.get("/audit?actor=paging-test&page=2").text
    seqs = [int(s) for s in ROW_SEQ.findall(first)] + [int(s) for s in ROW_SEQ.findall(second)]
    assert len(ROW_SEQ.findall(first)) == 50 and seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 60
    assert 'rel="next"' in first and 'rel="prev"' in second and 'rel="next"' not in second


def test_investigator_sees_only_their_cases_and_requests_evidence(site: WebSite) -> None:
    inv = site.deps.investigations
    assert inv is not None
    ivan, ines = (inv.access.open_case(_actor(n), f"CI-WEB-{n}", "Inspector General", "fraud")
                  for n in ("ivan", "ines"))
    mid, _ = site.leave(seed=502)
    client, token = signed_in(site, "ivan")
    listing = client.get("/cases").text
    assert ivan.id in listing and ines.id not in listing
    assert client.get(f"/cases/{ines.id}").status_code == 404
    assert ("case.view", "denied", SOURCE) in acts(site, "ivan")
    # without the CSRF token nothing is requested
    assert post(client, f"/cases/{ivan.id}/evidence", None, request_ref="REF-1", message_ids=mid) == 403
    assert post(client, f"/cases/{ivan.id}/evidence", token, request_ref="REF-1", message_ids="../etc") == 400
    assert post(client, f"/cases/{ivan.id}/evidence", token, request_ref="", message_ids=mid) == 400
    assert not _requests(site, ivan.id)
    assert post(client, f"/cases/{ivan.id}/evidence", token, request_ref="REF-1", message_ids=mid) == 303
    page = client.get(f"/cases/{ivan.id}?n=requested").text
    assert "REF-1" in page and "pending" in page and "Export requested." in page
    (req,) = _requests(site, ivan.id)
    assert (req.requester, req.status, req.params) == ("ivan", "pending", {"message_ids": [mid]})
    assert ("evidence.request", "ok", SOURCE) in acts(site, "ivan")
    # another investigator cannot request on a case they are not a member of (audited refusal)
    other, other_token = signed_in(site, "ines")
    assert post(other, f"/cases/{ivan.id}/evidence", other_token, request_ref="REF-X", message_ids=mid) == 404
    assert ("evidence.request", "denied", SOURCE) in acts(site, "ines") and len(_requests(site, ivan.id)) == 1


def test_cleared_admin_approves_another_persons_request_but_never_their_own(site: WebSite) -> None:
    inv = site.deps.investigations
    assert inv is not None
    store = site.deps.messages
    assert store is not None
    mid, _ = site.leave(seed=503)
    inv.access.open_case(_actor("carl"), "CI-WEB-carl", "Inspector General", "fraud")
    inv.access.open_case(_actor("ivan"), "CI-WEB-ivan2", "Inspector General", "fraud")
    own = inv.request_evidence(_actor("carl"), "CI-WEB-carl", "REF-OWN", [mid], store)
    theirs = inv.request_evidence(_actor("ivan"), "CI-WEB-ivan2", "REF-THEIRS", [mid], store)
    carl, token = signed_in(site, "carl")
    listing = carl.get("/approvals").text
    assert "REF-OWN" in listing and "REF-THEIRS" in listing and "Your own request" in listing
    assert post(carl, f"/approvals/{theirs.id}/approve", None) == 403  # CSRF
    assert inv.releases.get(theirs.id).status == "pending"
    refused = carl.post(f"/approvals/{own.id}/approve", data={"csrf_token": token}, headers={"Origin": BASE})
    assert refused.status_code == 403 and "two-person rule" in refused.text
    assert inv.releases.get(own.id).status == "pending"
    assert ("evidence.approve", "denied", SOURCE) in acts(site, "carl")
    # an investigator without the cleared_admin role: 404, audited
    ivan, ivan_token = signed_in(site, "ivan")
    assert post(ivan, f"/approvals/{theirs.id}/approve", ivan_token) == 404
    assert ("release.approve", "denied", SOURCE) in acts(site, "ivan")
    assert post(carl, f"/approvals/{theirs.id}/approve", token, reason="warrant seen") == 303
    approved = inv.releases.get(theirs.id)
    assert (approved.status, approved.approver) == ("approved", "carl")
    (event,) = [e for e in events(site, actor="carl") if e.action == "evidence.approve" and e.outcome == "ok"]
    assert (event.source, event.case_id, event.request_ref, event.reason) == (SOURCE, "CI-WEB-ivan2", "REF-THEIRS",
                                                                                "warrant seen")
    assert "REF-THEIRS" not in carl.get("/approvals?n=approved").text


def test_verify_reports_intact_then_the_exact_bad_sequence_after_tampering(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "audit-signing.pem"
    signing = SigningKey.create(key)
    db = tmp_path / "db.sqlite"
    with web_site(tmp_path, f"sqlite:///{db}", audit_signing_key=str(key)) as s:
        inv = _populate(s)
        inv.audit.checkpoint(signing)
        client, token = signed_in(s, "audrey")
        assert post(client, "/audit/verify", None) == 403  # CSRF: nothing verified, nothing audited
        assert not [e for e in events(s, actor="audrey") if e.action == "audit.verify"]
        head = inv.audit.head().seq
        ok = client.post("/audit/verify", data={"csrf_token": token}, headers={"Origin": BASE})
        assert ok.status_code == 200 and f"intact through sequence {head} " in ok.text
        raw = sqlite3.connect(db, isolation_level=None)
        for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            raw.execute(f"DROP TRIGGER {name}")
        raw.execute("UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3")
        raw.close()
        bad = client.post("/audit/verify", data={"csrf_token": token}, headers={"Origin": BASE})
        assert bad.status_code == 200 and "first bad sequence 3: sequence 3 was altered" in bad.text
        verified = [(e.outcome, e.source, e.details) for e in events(s, actor="audrey") if e.action == "audit.verify"]
        assert [v[:2] for v in verified] == [("ok", SOURCE), ("ok", SOURCE)]
        assert '"intact":true' in verified[0][2] and '"first_bad":3' in verified[1][2]
        # a missing key file: a clear message, and the failed attempt is audited
        s.rebuild(audit_signing_key=str(tmp_path / "missing.pem"))
        client, token = signed_in(s, "audrey")
        missing = client.post("/audit/verify", data={"csrf_token": token}, headers={"Origin": BASE})
        assert missing.status_code == 503 and "no signing key at" in missing.text
        assert acts(s, "audrey")[-1] == ("audit.verify", "error", SOURCE)
        # with audit_public_key the web needs no private key file at all
        public = tmp_path / "audit-public.pem"
        public.write_bytes(signing.public_pem())
        s.rebuild(audit_signing_key=str(tmp_path / "missing.pem"), audit_public_key=str(public))
        client, token = signed_in(s, "audrey")
        checked = client.post("/audit/verify", data={"csrf_token": token}, headers={"Origin": BASE})
        assert checked.status_code == 200 and "first bad sequence 3: sequence 3 was altered" in checked.text
        other = tmp_path / "other-public.pem"
        other.write_bytes(SigningKey.create(tmp_path / "other.pem").public_pem())
        s.rebuild(audit_signing_key="", audit_public_key=str(other))  # the wrong key: its checkpoint is refused
        client, token = signed_in(s, "audrey")
        wrong = client.post("/audit/verify", data={"csrf_token": token}, headers={"Origin": BASE})
        assert wrong.status_code == 200 and "signature does not verify" in wrong.text


def _actor(name: str) -> Actor:
    return Actor(name, "cli@test")


def _requests(site: WebSite, case_id: str) -> list[ReleaseRequest]:
    return releases_of_case(site.deps.engine, case_id)
