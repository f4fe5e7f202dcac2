"""Scripted callers (stand-in, lab timing) use the telephone menu; the real driver, mailbox services, PIN
store and staging folder answer. Calls of one test run at the same time over one AMI connection."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.phone.harness import PIN, PhoneSite, caller, commands, phone_site
from tests.integration.pipeline.harness import make_wav
from voicemail.audit.store import AuditLog
from voicemail.domain.models import MailboxRef
from voicemail.web.accounts_store import AccountStore

ANY = '"0123456789*#"'


def folders(site: PhoneSite, mailbox: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for path in site.box.spool_files(mailbox):
        if path.suffix == ".txt":
            out[path.parent.name] = out.get(path.parent.name, 0) + 1
    return out


def audit(site: PhoneSite) -> list[tuple[str, str, str, str, dict[str, object]]]:
    return [(e.actor, e.action, e.outcome, e.source, json.loads(e.details))
            for e in AuditLog(site.box.container.engine).iter_all()]


def no_leftovers(site: PhoneSite) -> None:
    assert site.staged_files() == []
    assert list(site.box.site.spool.glob("*/*/vmmenu-*")) == []


CALLERS = {
    # listen (1) in the main menu's wait, save (9) in the wait after the message, leave (#)
    "save": caller((2.2, f"{PIN}#"), (17, "1"), (39.5, "9"), (51, "#"), hangup_at=70),
    "delete": caller((2.2, f"{PIN}#"), (17, "1"), (39.5, "7"), (51, "#"), hangup_at=70),
    "gone": caller((2.2, f"{PIN}#"), (17, "1"), hangup_at=33),  # hangs up while the 12 s message plays
    "early": caller(hangup_at=1.0),  # hangs up during the PIN prompt
    "envelope": caller((2.2, f"{PIN}#"), (17, "1"), hangup_at=21),  # hangs up while the date is said
}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[PhoneSite]:
    with phone_site(tmp_path / "site", CALLERS, phone_menu_wait=8.0) as s:
        yield s


def test_callers_listen_save_delete_and_hang_up_leaving_nothing_behind(site: PhoneSite) -> None:
    pins = site.box.container.pins
    assert pins is not None
    for box in ("1002", "2001"):
        pins.set_pin(MailboxRef("default", box), PIN, actor="test", source="test")
    accounts = AccountStore(site.box.container.engine)  # alice hears her messages' times in her own zone
    alice = accounts.add("alice", roles=("owner",), mailboxes=(MailboxRef("default", "1001"),), password=None)
    accounts.update_settings(alice.id, notify_address="", timezone="America/New_York", language="")
    saved = site.box.leave("1001@default", make_wav(2.0, 3))
    deleted = site.box.leave("1002@default", make_wav(2.0, 4))
    kept = site.box.leave("2001@default", make_wav(12.0, 5), callerid='"Someone" <+12025550123>',
                          context="from-trunk")
    calls = site.run_calls([("save", "1001"), ("delete", "1002"), ("gone", "2001"), ("early", "1001"),
                            ("envelope", "1002")])
    save, delete, gone, early, envelope = (commands(c) for c in calls)

    staged = re.compile(r"^CONTROL STREAM FILE (\S+) ")
    [path] = {m.group(1) for c in save if (m := staged.match(c))}
    assert Path(path).parent == site.staging and Path(path).name.startswith("vmmenu-")
    assert save == [
        "GET DATA vm-password 5000 20",
        f"STREAM FILE vm-youhave {ANY}", f"SAY NUMBER 1 {ANY}", f"STREAM FILE vm-INBOX {ANY}",
        f"STREAM FILE vm-message {ANY}",
        f"STREAM FILE vm-onefor {ANY}", f"STREAM FILE vm-INBOX {ANY}", f"STREAM FILE vm-messages {ANY}",
        f"STREAM FILE vm-opts {ANY}", f"STREAM FILE vm-helpexit {ANY}", "WAIT FOR DIGIT 8000",
        f"STREAM FILE vm-first {ANY}", f"STREAM FILE vm-message {ANY}",
        next(c for c in save if c.startswith("SAY DATETIME ") and c.endswith(" America/New_York")),
        f"STREAM FILE vm-from {ANY}", f"SAY DIGITS 1001 {ANY}",
        f'CONTROL STREAM FILE {path} "13456789" 3000 "#" "*" "0"',
        f"STREAM FILE vm-advopts {ANY}", f"STREAM FILE vm-repeat {ANY}", f"STREAM FILE vm-delete {ANY}",
        f"STREAM FILE vm-savemessage {ANY}", f"STREAM FILE vm-helpexit {ANY}", "WAIT FOR DIGIT 8000",
        f"STREAM FILE vm-msgsaved {ANY}", f"STREAM FILE vm-nomore {ANY}",
        f"STREAM FILE vm-advopts {ANY}", f"STREAM FILE vm-repeat {ANY}", f"STREAM FILE vm-delete {ANY}",
        f"STREAM FILE vm-savemessage {ANY}", f"STREAM FILE vm-helpexit {ANY}", "WAIT FOR DIGIT 8000",
        'STREAM FILE vm-goodbye ""', "HANGUP"]
    play = next(sent for calls in site.calls.values() for sent in calls
                if sent.command.startswith("CONTROL STREAM FILE"))
    assert play.staged is not None and play.staged[0] == 0o640  # group-readable while it plays, never world
    assert folders(site, "1001@default") == {"Old": 1}

    assert 'STREAM FILE vm-deleted "0123456789*#"' in delete and delete[-2:] == ['STREAM FILE vm-goodbye ""',
                                                                                 "HANGUP"]
    assert folders(site, "1002@default") == {}

    assert gone[-1].startswith("CONTROL STREAM FILE ")  # the caller hung up while it played
    assert not any("SAY DIGITS" in c for c in gone)  # nothing about the outside caller
    assert folders(site, "2001@default") == {"INBOX": 1}  # no half-done move
    assert early == ["GET DATA vm-password 5000 20"]
    assert envelope[-1].startswith("SAY DATETIME ")
    no_leftovers(site)

    events = audit(site)
    players = {a for a, act, *_r in events if act == "audio.play"}
    assert players == {"phone:1001@default", "phone:1002@default", "phone:2001@default"}
    mine = AuditLog(site.box.container.engine)
    assert [e.action for e in mine.events(message_id=saved) if e.action in ("audio.play", "message.mark")] == [
        "audio.play", "message.mark"]
    assert "message.delete" in [e.action for e in mine.events(message_id=deleted)]
    assert [e.source.startswith("phone ") for e in mine.events(message_id=kept) if e.action == "audio.play"] == [True]
    signins = [(a, o) for a, act, o, _s, _d in events if act == "phone.signin"]
    assert sorted(signins) == sorted([(f"phone:{b}@default", "ok") for b in ("1001", "1002", "2001", "1002")])


GUESS = caller((2.2, "111111#"), (8.0, "222222#"), (14.0, "333333#"), hangup_at=40)
BRUTE = {"guess1": GUESS, "guess2": GUESS, "owner": caller((2.2, f"{PIN}#"), hangup_at=25)}


def test_pin_guessing_across_calls_locks_the_mailbox(tmp_path: Path) -> None:
    with phone_site(tmp_path / "site", BRUTE, phone_menu_wait=8.0) as site:
        first = site.run_calls([("guess1", "1001"), ("guess2", "1001")])
        for call in first:
            assert commands(call).count('STREAM FILE vm-incorrect ""') == 3
            assert commands(call)[-2:] == ['STREAM FILE vm-goodbye ""', "HANGUP"]
        [owner] = site.run_calls([("owner", "1001")])
        assert commands(owner)[:2] == ["GET DATA vm-password 5000 20", 'STREAM FILE vm-incorrect ""']
        assert "STREAM FILE vm-youhave" not in " ".join(commands(owner))
        events = audit(site)
        results = [d.get("result") for _a, act, _o, _s, d in events if act == "phone.signin"]
        assert results == ["wrong PIN"] * 5 + ["locked"] * 2  # the 6th guess and then the owner meet the lock
        assert [act for _a, act, *_ in events].count("phone.lockout") == 1
        assert all(PIN not in json.dumps(d) and "111111" not in json.dumps(d) for *_x, d in events)
        no_leftovers(site)


OTHERS = {
    "stranger": caller((2.2, "9999#"), (7.0, f"{PIN}#"), hangup_at=40),  # asks for the mailbox (*98)
    # 0 options, 1 unavailable greeting, # ends the recording, 1 keeps it, * back, # goodbye
    "greeting": caller((2.2, f"{PIN}#"), (13.5, "0"), (18.5, "1"), (25.0, "#"), (30.5, "1"), (37.5, "*"),
                       (44.0, "#"), hangup_at=60),
    # starts recording the busy greeting, hangs up in the middle of it
    "record-gone": caller((2.2, f"{PIN}#"), (13.5, "0"), (18.5, "2"), hangup_at=24),
}


def test_unknown_mailbox_is_refused_and_greetings_are_recorded_from_the_phone(tmp_path: Path) -> None:
    with phone_site(tmp_path / "site", OTHERS, phone_menu_wait=8.0) as site:
        pins = site.box.container.pins
        assert pins is not None
        pins.set_pin(MailboxRef("default", "1002"), PIN, actor="test", source="test")
        stranger, greeting, gone = site.run_calls([("stranger", "menu"), ("greeting", "1002"),
                                                   ("record-gone", "1001")])
        assert commands(stranger)[:3] == ["GET DATA vm-login 5000 20", "GET DATA vm-password 5000 20",
                                          'STREAM FILE vm-incorrect ""']
        assert commands(stranger)[-2:] == ['STREAM FILE vm-goodbye ""', "HANGUP"]
        record = [c for c in commands(greeting) if c.startswith("RECORD FILE ")]
        assert len(record) == 1 and "/default/1002/vmmenu-unavail-" in record[0]
        assert 'STREAM FILE vm-msgsaved "0123456789*#"' in commands(greeting)
        folder = site.box.site.spool / "default" / "1002"
        assert (folder / "unavail.wav").is_file()
        assert commands(gone)[-1].startswith("RECORD FILE ")
        assert not (site.box.site.spool / "default" / "1001" / "busy.wav").exists()
        events = audit(site)
        assert ("phone.signin", "denied", "unknown mailbox") in [(act, o, d.get("result"))
                                                                 for _a, act, o, _s, d in events]
        assert [(d["greeting"], d["result"]) for _a, act, _o, _s, d in events if act == "phone.greeting"] == [
            ("unavail", "recorded")]
        no_leftovers(site)


def test_losing_the_ami_connection_mid_message_ends_the_call_and_removes_its_file(tmp_path: Path) -> None:
    callers = {"listener": caller((2.2, f"{PIN}#"), (17, "1"), hangup_at=60)}
    with phone_site(tmp_path / "site", callers, phone_menu_wait=8.0) as site:
        site.box.leave("1001@default", make_wav(12.0, 6))
        seen: list[list[Path]] = []

        def drop() -> None:
            seen.append(site.staged_files())  # the message is playing from its staging file
            site.box.standin.drop_connections()

        [call] = site.run_calls([("listener", "1001")], meanwhile=(32.0, drop))
        assert commands(call)[-1].startswith("CONTROL STREAM FILE ")
        assert [len(files) for files in seen] == [1]
        no_leftovers(site)
        assert folders(site, "1001@default") == {"INBOX": 1}
