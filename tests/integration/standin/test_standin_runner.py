"""The stand-in as a program (``python -m voicemail.standin``) and in a background thread."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.standin.standin_client import Ami, reply
from voicemail.domain.errors import ConfigError
from voicemail.standin import LAB_MAILBOXES, StandinConfig, StandinMailbox, StandinThread


def test_module_runs_a_stand_in_until_terminated(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    proc = subprocess.Popen([sys.executable, "-m", "voicemail.standin", "--port", "0", "--spool", str(spool),
                             "--formats", "wav49,wav", "--timing", "fast"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"AMI on 127\.0\.0\.1:(\d+)", line)
        assert match, line
        ami = Ami(int(match.group(1)))
        assert ami.banner == b"Asterisk Call Manager/11.0.0\r\n"
        ami.login()
        assert reply(ami.action("Ping", "p"), "p").get("Ping") == "Pong"
        ami.close()
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0
    assert spool.is_dir()


def test_thread_wrapper_serves_leaves_messages_and_stops(tmp_path: Path) -> None:
    box = StandinMailbox("sales", "300", fullname="Dana", email="dana@example.test")
    standin = StandinThread(StandinConfig(spool_dir=tmp_path / "voicemail", username="voicemail", secret="s3cret",
                                          mailboxes=(*LAB_MAILBOXES, box)))
    port = standin.start()
    try:
        assert port == standin.port > 0
        ami = Ami(port)
        ami.login(username="voicemail", secret="s3cret")
        msg_id = standin.leave_message("300@sales", "+4535551234")
        assert msg_id and (tmp_path / "voicemail" / "sales" / "300" / "INBOX" / "msg0000.txt").is_file()
        users = ami.action("VoicemailUsersList", "u")
        assert [f.get("VoiceMailbox") for f in users if f.get("Event") == "VoicemailUserEntry"] == [
            "1001", "1002", "2001", "300"]
        standin.drop_connections()
        assert ami.wait_closed()
        again = Ami(port)
        again.login(username="voicemail", secret="s3cret")
        assert reply(again.action("Ping", "p"), "p").get("Ping") == "Pong"
        again.close()
    finally:
        standin.stop()
    with pytest.raises(OSError):
        Ami(port, timeout=1)


def test_bad_settings_are_refused_with_the_setting_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="timing"):
        StandinConfig(spool_dir=tmp_path, timing="slow").validated()
    with pytest.raises(ConfigError, match="format"):
        StandinConfig(spool_dir=tmp_path, formats=("mp3",)).validated()
    with pytest.raises(ConfigError, match="mailbox"):
        StandinConfig(spool_dir=tmp_path, mailboxes=(StandinMailbox("default", "../x"),)).validated()


def test_command_line_takes_scripted_callers_and_phones(tmp_path: Path) -> None:
    from voicemail.standin.__main__ import parse

    config = parse(["--spool", str(tmp_path), "--caller", "x1=Wait(2.4),SendDTMF(4242#),Wait(60),Hangup",
                    "--phone", "desk=Ringing,Wait(3),Answer", "--file-root", str(tmp_path / "root")])
    assert dict(config.callers) == {"x1": "Wait(2.4),SendDTMF(4242#),Wait(60),Hangup"}
    assert dict(config.phones) == {"desk": "Ringing,Wait(3),Answer"}
    assert config.file_root == tmp_path / "root"
    with pytest.raises(ConfigError):
        parse(["--spool", str(tmp_path), "--caller", "x1=Dial(SIP/1)"])
    with pytest.raises(SystemExit):
        parse(["--spool", str(tmp_path), "--caller", "no-steps"])
