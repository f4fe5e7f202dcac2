"""`voicemail run --site branch` answers the telephone menu of the branch Asterisk: a scripted caller on the
branch stand-in signs in to the branch's 1001 with its own PIN (the default site's 1001 has another),
hears its new message and hangs up; the message is then in Old in the branch spool (the whole wiring:
config file with [[sites]], the site's settings, composition root, service, driver on the branch's AMI)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text

from tests.integration.phone.harness import PIN, caller
from tests.integration.pipeline.harness import MAILBOXES, Site, make_wav, wait_for
from voicemail.ami.blocking import BlockingAmi
from voicemail.ami.parser import AmiMessage
from voicemail.audit.store import AuditLog
from voicemail.cli import main
from voicemail.db.engine import make_engine
from voicemail.standin import StandinConfig, StandinThread

HQ_PIN = "740316"


def test_voicemail_run_for_a_site_answers_that_site_s_menu_calls(tmp_path: Path) -> None:
    hq = Site(tmp_path / "hq", database_url=f"sqlite:///{tmp_path / 'vm.db'}")
    hq.prepare()
    hq.start_standin()
    spool = tmp_path / "branch-spool"
    callers = {"owner": caller((2.2, f"{PIN}#"), (18.0, "1"), hangup_at=34)}
    branch = StandinThread(StandinConfig(spool_dir=spool, username="voicemail", secret="branch-secret",
                                         mailboxes=MAILBOXES, timing="lab", callers=callers))
    port = branch.start()
    config = tmp_path / "voicemail.toml"
    config.write_text(f'[[sites]]\nname = "branch"\nami_host = "127.0.0.1"\nami_port = {port}\n'
                      f'ami_username = "voicemail"\nspool_dir = "{spool}"\n')
    extra = {"VOICEMAIL_CONFIG": str(config), "VOICEMAIL_SITE_BRANCH_AMI_SECRET": "branch-secret",
             "VOICEMAIL_PHONE_TRUSTED_CONTEXTS": "vmmenu", "VOICEMAIL_PHONE_MENU_WAIT": "10",
             "VOICEMAIL_PHONE_STAGING_DIR": str(tmp_path / "stage")}
    env = hq.env(**extra)
    for args, pin in ((["--site", "branch"], PIN), ([], HQ_PIN)):
        result = CliRunner().invoke(main, ["phone", "pin", "set", "1001", *args], env=env, input=f"{pin}\n")
        assert result.exit_code == 0, result.output
    seen: list[AmiMessage] = []
    watcher = BlockingAmi("127.0.0.1", port, "voicemail", "branch-secret")
    engine = make_engine(hq.database_url)
    try:
        watcher.client.subscribe(lambda m: seen.append(m) if m.event in ("AGIExecStart", "AsyncAGIEnd") else None)
        watcher.wait_connected(10)
        hq.spawn("run", "--no-web", "--site", "branch", log="run", **extra)
        wait_for(lambda: branch.session_count() >= 2, 30, "voicemail run --site branch to log in")
        branch.leave_message("1001@default", '"Bob Internal" <1002>', caller_context="vm-internal",
                             audio=make_wav(1.0, 9))

        def stripped() -> bool:
            with engine.connect() as conn:
                return conn.execute(text("SELECT site, state FROM messages")).all() == [("branch", "stripped")]

        wait_for(stripped, 60, "the branch message to be sealed")
        watcher.call("Originate", {"Channel": "Local/owner@vmphone/n", "Context": "vmmenu", "Exten": "1001",
                                   "Priority": "1", "Async": "true"}, timeout=10)
        try:
            wait_for(lambda: any(m.event == "AsyncAGIEnd" for m in seen), 60, "the menu call to end")
        except AssertionError:
            print(hq.logs())
            raise
        commands = [m.get("Command") or "" for m in seen if m.event == "AGIExecStart"]
        assert commands[:3] == ["GET DATA vm-password 5000 20", 'STREAM FILE vm-youhave "0123456789*#"',
                                'SAY NUMBER 1 "0123456789*#"']
        assert any(c.startswith("CONTROL STREAM FILE ") for c in commands)
        folder = spool / "default" / "1001"
        wait_for(lambda: any((folder / "Old").glob("msg*.txt")), 20, "the heard message to move to Old")
        assert not any((folder / "INBOX").glob("msg*.txt"))
        signins = [json.loads(e.details) for e in AuditLog(engine).iter_all() if e.action == "phone.signin"]
        assert signins == [{"mailbox": "1001@default", "site": "branch"}]
    finally:
        engine.dispose()
        watcher.close()
        hq.stop_all()
        branch.stop()
