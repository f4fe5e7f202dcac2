"""The web's mailbox actions reach the Asterisk of the message's own site, never one that merely has a
mailbox of the same name; the spool is read only for the site this process has mounted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from voicemail.ami.site_control import SiteMailboxControl, SiteSpool
from voicemail.domain.errors import AmiError
from voicemail.domain.models import MailboxRef
from voicemail.spool import FileSpool

MSG_ID = "1795978545-00000000"  # msg_id= of the captured msg0000.txt


class Recorded:
    """A mailbox control that records what it was asked (each stands for one Asterisk)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def folder_of(self, mailbox: MailboxRef, msg_id: str) -> str | None:
        self.calls.append(("folder_of", msg_id))
        return "INBOX"

    def move(self, mailbox: MailboxRef, msg_id: str, from_folder: str, to_folder: str) -> None:
        self.calls.append(("move", msg_id))

    def move_from(self, mailbox: MailboxRef, msg_id: str, listed: str, to_folder: str) -> str | None:
        self.calls.append(("move_from", msg_id))
        return listed

    def remove(self, mailbox: MailboxRef, msg_id: str) -> bool:
        self.calls.append(("remove", msg_id))
        return True


def test_each_action_goes_to_the_asterisk_of_the_mailbox_s_site() -> None:
    hq, branch = Recorded(), Recorded()
    control = SiteMailboxControl({"hq": hq, "branch": branch}, default_site="hq")
    control.move(MailboxRef("default", "1001"), "a", "INBOX", "Old")  # no site: the default site
    control.remove(MailboxRef("default", "1001", "branch"), "b")
    assert control.folder_of(MailboxRef("default", "1001", "branch"), "c") == "INBOX"
    assert control.move_from(MailboxRef("default", "1001", "hq"), "d", "INBOX", "Old") == "INBOX"
    assert hq.calls == [("move", "a"), ("move_from", "d")]
    assert branch.calls == [("remove", "b"), ("folder_of", "c")]


def test_a_site_without_an_ami_connection_is_refused_not_sent_elsewhere() -> None:
    hq = Recorded()
    control = SiteMailboxControl({"hq": hq}, default_site="hq")
    with pytest.raises(AmiError, match="site 'branch'"):
        control.remove(MailboxRef("default", "1001", "branch"), "b")
    assert hq.calls == []


def test_the_spool_of_another_site_is_not_looked_into(tmp_path: Path, captures: Path) -> None:
    inbox = tmp_path / "spool" / "default" / "1001" / "INBOX"
    inbox.mkdir(parents=True)
    for name in ("msg0000.txt", "msg0000.wav"):  # a message as Asterisk 22 left it (the captures)
        shutil.copy(captures / name, inbox / name)
    spool = SiteSpool(FileSpool(tmp_path / "spool", grace_seconds=0), served_site="hq", default_site="hq")
    mailbox = MailboxRef("default", "1001")
    assert spool.find(mailbox, MSG_ID) is not None  # the default site's spool, mounted here
    assert spool.find(mailbox.on_site("hq"), MSG_ID) is not None
    assert spool.find(mailbox.on_site("branch"), MSG_ID) is None  # the same path, but not the branch's spool
