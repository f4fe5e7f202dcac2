"""deploy/asterisk/manager.conf grants the service's AMI user exactly the classes it needs: the read
classes that deliver the events we consume and the write classes of the actions we send, as the
captured Asterisk 22 prints them (event ``Privilege:`` headers, ``ListCommands`` ``(Priv: ...)``)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

# Events the service consumes: listener (MessageWaiting), CDR store (Cdr), play on my phone
# (OriginateResponse, Hangup), phone menu over Async AGI (AsyncAGIStart / Exec / End).
EVENTS = ("MessageWaiting", "Cdr", "OriginateResponse", "Hangup", "AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd")
# Actions it sends (Login / Logoff / Ping / Events need no class).
ACTIONS = ("VoicemailUsersList", "VoicemailBoxSummary", "MailboxCount", "VoicemailMove", "VoicemailRemove",
           "VoicemailRefresh", "Originate", "AGI")


def granted(key: str) -> set[str]:
    text = (REPO / "deploy" / "asterisk" / "manager.conf").read_text(encoding="utf-8")
    section = text.split("[voicemail]", 1)[1]
    line = next(ln for ln in section.splitlines() if ln.startswith(f"{key} ="))
    return {c.strip() for c in line.split("=", 1)[1].split(";", 1)[0].split(",") if c.strip()}


def all_capture_text(captures: Path) -> str:
    return "".join(p.read_text(encoding="utf-8", errors="replace").replace("\r", "")
                   for p in sorted(captures.glob("*.ami.txt")))


def test_read_classes_are_exactly_those_of_the_events_we_consume(captures: Path) -> None:
    text = all_capture_text(captures)
    needed: dict[str, set[str]] = {}
    for event in EVENTS:
        classes = set(re.findall(rf"^Event: {event}\nPrivilege: ([a-z,]+)$", text, re.M))
        assert classes, f"no {event} in the captures"
        needed[event] = {c for cs in classes for c in cs.split(",") if c != "all"}
    read = granted("read")
    assert all(cs & read for cs in needed.values()), needed  # every consumed event is delivered
    assert read == set().union(*needed.values()), (read, needed)  # and nothing else


def test_write_classes_are_exactly_those_of_the_actions_we_send(captures: Path) -> None:
    text = all_capture_text(captures)
    write = granted("write")
    used: set[str] = set()
    for action in ACTIONS:
        found = re.search(rf"^{action}: .*\(Priv: ([a-z,]+)\)$", text, re.M)
        assert found, f"{action} is not in ListCommands of the captures"
        classes = {c for c in found.group(1).split(",") if c != "all"}
        assert classes & write, (action, classes)  # Asterisk allows an action on any shared class
        used |= classes & write
    assert write == used, (write, used)
    assert not write & {"system", "command", "config", "call"}
