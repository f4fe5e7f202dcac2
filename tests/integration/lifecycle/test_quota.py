"""The vault quota on PostgreSQL through the real custody path: sealing a new message that exceeds the
quota destroys the oldest unheld messages first (never the new one); when only held messages are left,
the new message is kept and an alert is raised (log without personal data, audit event, listed row)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.unit.lifecycle.support import ADMIN, IVY, Site, open_audio, seed, states
from voicemail.app import Container
from voicemail.audit.service import Investigations
from voicemail.audit.store import AuditLog
from voicemail.cli import main
from voicemail.domain.models import MailboxRef
from voicemail.lifecycle.wiring import Lifecycle

pytestmark = pytest.mark.postgres
SAMPLE = "spool-2001-INBOX-msg0001.dialplan-vmleave-ext.txt"


def leave_message(site: Site, captures: Path, mailbox: str = "1001") -> int:
    inbox = site.root / "spool" / "default" / mailbox / "INBOX"
    inbox.mkdir(parents=True, exist_ok=True)
    n = len(list(inbox.glob("*.txt")))
    shutil.copyfile(captures / SAMPLE, inbox / f"msg{n:04d}.txt")
    shutil.copyfile(captures / "msg0000.wav", inbox / f"msg{n:04d}.wav")
    return (captures / "msg0000.wav").stat().st_size


def seal_new(c: Container, found: list[str]) -> str:
    c.discovery.reconcile()
    assert len(found) == 1
    assert c.custody.seal(found[0]) == "sealed"  # the quota hook runs after this commit
    return found[0]


def hold(c: Container, **kw: object) -> None:
    inv = Investigations(c.engine)
    if not inv.access.roles_of(IVY.name):
        inv.access.grant(ADMIN, ADMIN.name, "administrator", "bootstrap")
        inv.access.grant(ADMIN, IVY.name, "investigator", "setup")
        inv.access.open_case(IVY, "CI-9", "OIG", "fraud")
    inv.holds.place(IVY, "CI-9", **kw)  # type: ignore[arg-type]


def test_over_quota_destroys_the_oldest_unheld_messages_first(tmp_path: Path, pg_url: str, captures: Path) -> None:
    new_size = (captures / "msg0000.wav").stat().st_size
    site = Site(tmp_path / "site", pg_url, quota_site_bytes=4 * 2004 + new_size - 1)
    found: list[str] = []
    c = site.container(on_new=found.append)
    old = [seed(c, age_days=d) for d in (40, 30, 20, 10)]  # 2004 bytes each, oldest first
    hold(c, scope="message", message_ids=[old[0][0]])
    leave_message(site, captures)
    new_id = seal_new(c, found)
    s = states(c)
    assert s[old[1][0]] == "destroyed"  # the oldest unheld one
    assert [s[m] for m, _ in (old[0], old[2], old[3])] == ["stripped"] * 3 and s[new_id] == "sealed"
    assert open_audio(c, old[0][0]) == old[0][1]  # held: untouched
    shreds = [e for e in AuditLog(c.engine).events(message_id=old[1][0]) if e.action == "message.shred"]
    assert shreds and all(e.actor == "quota" and "quota" in e.reason for e in shreds)
    c.close()


def test_only_held_messages_left_keeps_the_new_one_and_raises_an_alert(
        tmp_path: Path, pg_url: str, captures: Path, caplog: pytest.LogCaptureFixture) -> None:
    site = Site(tmp_path / "site", pg_url, quota_site_bytes=3000)
    found: list[str] = []
    c = site.container(on_new=found.append)
    old = [seed(c, age_days=d) for d in (20, 10)]
    hold(c, scope="mailbox", mailbox=MailboxRef("default", "1001"))
    leave_message(site, captures)
    with caplog.at_level(logging.ERROR):
        new_id = seal_new(c, found)
    assert states(c) == {old[0][0]: "stripped", old[1][0]: "stripped", new_id: "sealed"}
    alert_logs = [r.getMessage() for r in caplog.records if "quota exceeded" in r.getMessage()]
    assert len(alert_logs) == 1 and "1001" not in alert_logs[0] and "5550100" not in alert_logs[0]
    events = [e for e in AuditLog(c.engine).events() if e.action == "quota.alert"]
    assert len(events) == 1 and events[0].message_id == new_id
    c.close()
    listed = CliRunner().invoke(main, ["quota", "alerts"], env=site.env())
    assert listed.exit_code == 0 and new_id in listed.output and "site" in listed.output


def test_a_mailbox_quota_evicts_only_that_mailbox(tmp_path: Path, pg_url: str, captures: Path) -> None:
    new_size = (captures / "msg0000.wav").stat().st_size
    site = Site(tmp_path / "site", pg_url, quota_mailbox_bytes=2004 + new_size)
    found: list[str] = []
    c = site.container(on_new=found.append)
    other = seed(c, age_days=90, mailbox="1002")
    mine = [seed(c, age_days=d) for d in (30, 20)]
    leave_message(site, captures)
    new_id = seal_new(c, found)
    s = states(c)
    assert s[mine[0][0]] == "destroyed" and s[mine[1][0]] == "stripped" and s[new_id] == "sealed"
    assert s[other[0]] == "stripped"  # older, but another mailbox
    c.close()


def test_a_mailbox_alert_names_the_mailbox_with_its_site_when_not_the_default_one(tmp_path: Path,
                                                                                  pg_url: str) -> None:
    """quota_alerts has no site column: the listing takes the site of the message the alert was raised for."""
    site = Site(tmp_path / "site", pg_url, quota_mailbox_bytes=3000)
    c = site.container()
    hold(c, scope="mailbox", mailbox=MailboxRef("default", "1001"))  # no site: 1001 on every site
    for where in ("branch", "default"):
        seed(c, age_days=20, site=where)
        new_id, _audio = seed(c, age_days=1, site=where, state="sealed")
        [result] = Lifecycle(c).quota().after_seal(new_id)
        assert result.scope == "mailbox" and result.alert_id is not None
    alerts = [json.loads(e.details) for e in AuditLog(c.engine).events() if e.action == "quota.alert"]
    assert [a["mailbox"] for a in alerts] == ["1001@default@branch", "1001@default"]
    c.close()
    listed = CliRunner().invoke(main, ["quota", "alerts"], env=site.env(VOICEMAIL_SITES="branch"))
    assert listed.exit_code == 0, listed.output
    mailboxes = sorted(line.split()[3] for line in listed.output.splitlines())
    assert mailboxes == ["1001@default", "1001@default@branch"]
