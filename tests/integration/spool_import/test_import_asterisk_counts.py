"""After `voicemail import`, Asterisk (the stand-in, reading the same spool) reports every mailbox as before,
over AMI: the same VoicemailBoxSummary (folder, caller, date, duration, flag, id of each message) and the
same MailboxCount. The import sends Asterisk nothing (no VoicemailRefresh), no lamp changes meanwhile, and a
VoicemailRefresh afterwards finds nothing to re-publish: the message-waiting lamps stay as they were."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.pipeline.harness import Site
from tests.integration.spool_import.conftest import fill, run_import
from tests.integration.standin.standin_client import Ami, Frame, events
from voicemail.standin import StandinConfig, StandinThread
from voicemail.standin.spool_fill import mailbox_names

BOXES = mailbox_names(3)
Detail = tuple[tuple[str, str | None], ...]
Report = tuple[list[Detail], str | None, str | None, str | None]  # box summary; urgent, new and old counts


@pytest.fixture
def asterisk(site: Site) -> Iterator[StandinThread]:
    site.standin = StandinThread(StandinConfig(spool_dir=site.spool, username="voicemail", secret=site.secret,
                                               mailboxes=tuple(BOXES)))
    site.port = site.standin.start()  # the import's settings name this Asterisk
    yield site.standin
    site.standin.stop()


def lamps_lit(standin: StandinThread) -> None:
    """The state after Asterisk published each mailbox's lamp when its messages were left (queue_mwi_event):
    VoicemailRefresh re-publishes only a mailbox whose counts differ from what was published."""

    async def publish() -> None:
        pbx = standin.standin.pbx
        for box in BOXES:
            pbx.mwi.queue(None, box.ident, *pbx.spool.inboxcount2(box.ident))

    standin._call(publish())


def as_asterisk_reports(ami: Ami) -> dict[str, Report]:
    out: dict[str, Report] = {}
    for n, box in enumerate(BOXES):
        frames = ami.action("VoicemailBoxSummary", f"summary-{n}", Context=box.context, Mailbox=box.mailbox)
        details = [tuple((k, f.get(k)) for k in ("Folder", "CallerID", "Date", "Duration", "Flag", "ID"))
                   for f in events(frames, "VoicemailBoxDetail")]
        [count] = [f for f in ami.action("MailboxCount", f"count-{n}", Mailbox=f"{box.mailbox}@{box.context}")
                   if f.get("Response")]
        out[box.ident] = (sorted(details), count.get("UrgMessages"), count.get("NewMessages"),
                          count.get("OldMessages"))
    return out


def lamp_events(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f.get("Event") in ("MessageWaiting", "DeviceStateChange")]


def test_asterisk_reports_the_same_mailboxes_and_lamps_after_the_import(site: Site, asterisk: StandinThread) -> None:
    fill(site, mailboxes=len(BOXES), messages=15)
    lamps_lit(asterisk)
    ami = Ami(asterisk.port)
    try:
        ami.login(username="voicemail", secret=site.secret)
        ami.sync()
        before = as_asterisk_reports(ami)
        assert sum(len(v[0]) for v in before.values()) == 15
        sessions = {session for _t, session, _a in asterisk.activity()}

        result = run_import(site)

        assert result.returncode == 0, result.stderr
        assert "imported: 15" in result.stdout
        during = ami.sync()
        assert lamp_events(during) == []  # no lamp changed while the import ran
        assert {s for _t, s, _a in asterisk.activity()} == sessions  # the import did not talk to Asterisk
        assert as_asterisk_reports(ami) == before
        ami.action("VoicemailRefresh", "refresh")
        assert lamp_events(ami.sync()) == []  # nothing for Asterisk to re-publish: the counts are the same
    finally:
        ami.close()
