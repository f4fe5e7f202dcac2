"""`voicemail run` answers the telephone menu beside its listener: a scripted caller reaches it through
AGI(agi:async,voicemail-menu,1001@default), listens to its new message and hangs up; the message is then
in Old, as VoiceMailMain leaves a message heard (the whole wiring: settings, composition root, service,
driver on the listener's own AMI connection)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from click.testing import CliRunner

from tests.integration.phone.harness import PIN, caller
from tests.integration.pipeline.harness import MAILBOXES, Site, make_wav, wait_for
from voicemail.ami.blocking import BlockingAmi
from voicemail.ami.parser import AmiMessage
from voicemail.cli import main
from voicemail.standin import StandinConfig, StandinThread


def test_voicemail_run_answers_a_menu_call(tmp_path: Path) -> None:
    s = Site(tmp_path / "site", database_url=f"sqlite:///{tmp_path / 'site' / 'vm.db'}")
    s.prepare()
    # PIN; 1 in the 10 s wait after the main menu (about 13-23 s); the 1 s message plays at about 28-29 s and
    # its instructions until about 34 s; hang up in the middle of the 10 s wait that follows (about 34-44 s),
    # never in the 0.1 s between two prompts, where no command is running to answer result=-1
    callers = {"owner": caller((2.2, f"{PIN}#"), (18.0, "1"), hangup_at=39)}
    standin = StandinThread(StandinConfig(spool_dir=s.spool, username="voicemail", secret=s.secret,
                                          mailboxes=MAILBOXES, timing="lab", callers=callers))
    s.standin = standin
    s.port = standin.start()
    extra = {"VOICEMAIL_PHONE_TRUSTED_CONTEXTS": "vmmenu", "VOICEMAIL_PHONE_MENU_WAIT": "10",
             "VOICEMAIL_PHONE_STAGING_DIR": str(tmp_path / "site" / "stage")}
    env = {**s.env(**extra)}
    result = CliRunner().invoke(main, ["phone", "pin", "set", "1001"], env=env, input=f"{PIN}\n")
    assert result.exit_code == 0, result.output
    seen: list[AmiMessage] = []
    watcher = BlockingAmi("127.0.0.1", s.port, "voicemail", s.secret)
    try:
        watcher.client.subscribe(lambda m: seen.append(m) if m.event == "AsyncAGIExec" or m.event == "AGIExecStart"
                                 or m.event == "AsyncAGIEnd" else None)
        watcher.wait_connected(10)
        s.spawn("run", "--no-web", log="run", **extra)
        wait_for(lambda: standin.session_count() >= 2, 30, "voicemail run to log in")
        standin.leave_message("1001@default", '"Bob Internal" <1002>', caller_context="vm-internal",
                              audio=make_wav(1.0, 8))
        watcher.call("Originate", {"Channel": "Local/owner@vmphone/n", "Context": "vmmenu", "Exten": "1001",
                                   "Priority": "1", "Async": "true"}, timeout=10)
        try:
            wait_for(lambda: any(m.event == "AsyncAGIEnd" for m in seen), 60, "the menu call to end")
        except AssertionError:
            print(s.logs())
            raise
        commands = [m.get("Command") or "" for m in seen if m.event == "AGIExecStart"]
        assert commands[0] == "GET DATA vm-password 5000 20"
        assert commands[1:3] == ['STREAM FILE vm-youhave "0123456789*#"', 'SAY NUMBER 1 "0123456789*#"']
        played = [n for n, c in enumerate(commands) if c.startswith("CONTROL STREAM FILE ")]
        assert len(played) == 1 and commands[played[0] + 1] == 'STREAM FILE vm-advopts "0123456789*#"', commands
        assert commands[-1] == "WAIT FOR DIGIT 10000", commands
        assert unquote([m for m in seen if m.event == "AsyncAGIExec"][-1].get("Result") or "").startswith(
            "200 result=-1")  # the caller hung up during the wait
        folder = s.spool / "default" / "1001"
        wait_for(lambda: any((folder / "Old").glob("msg*.txt")), 20, "the heard message to move to Old")
        assert not any((folder / "INBOX").glob("msg*.txt"))
        assert list((tmp_path / "site" / "stage").iterdir()) == []
    finally:
        watcher.close()
        s.stop_all()
