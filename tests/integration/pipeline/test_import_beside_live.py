"""`voicemail import` beside the live pipeline, as real processes: a throttled import of a spool that holds
hundreds of old messages runs while `voicemail run` listens to Asterisk (the stand-in) and a Celery worker
takes custody. Asterisk records new messages in the same mailboxes meanwhile: each is sealed, stripped and
announced while the import is still running, every old message ends imported without a notification,
Asterisk's counts over AMI are those of the spool with the new messages added, and no plaintext is left."""

from __future__ import annotations

import email
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.pipeline.harness import CALLERS, Site, make_wav, sha256, wait_for
from tests.integration.standin.standin_client import Ami, events
from voicemail.db.models import ImportRunRow, MessageRow, NotificationRow
from voicemail.standin import StandinConfig, StandinMailbox, StandinThread
from voicemail.standin.spool_fill import Written, fill_spool

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

# The old messages' mailboxes (fill_spool's names), each with an owner to announce new messages to.
BOXES = tuple(StandinMailbox("default", str(10000 + n), fullname=f"Owner {n}", email=f"owner{n}@example.test")
              for n in range(6))
OLD = 240
RATE = 16  # messages per second: the import lasts about 15 s
NEW = 6
Counts = tuple[str | None, str | None, str | None]  # Asterisk's MailboxCount: urgent, new, old


@pytest.fixture
def site(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[Site]:
    s = Site(tmp_path / "site", database_url=pg_url, broker_url=redis_url)
    s.prepare()
    s.standin = StandinThread(StandinConfig(spool_dir=s.spool, username="voicemail", secret=s.secret,
                                            mailboxes=BOXES))
    s.port = s.standin.start()
    yield s
    s.stop_all()


def _rows(site: Site) -> dict[tuple[str, str], tuple[str, str | None, str]]:
    """(mailbox@context, msg_id) -> (message state, notification state, recipient) of every message on record."""
    with site.connect() as conn:
        rows = conn.execute(select(MessageRow.mailbox, MessageRow.context, MessageRow.msg_id, MessageRow.state,
                                   NotificationRow.state, NotificationRow.recipient)
                            .outerjoin(NotificationRow, NotificationRow.message_id == MessageRow.id)).all()
    return {(f"{box}@{ctx}", msg_id): (state, note, to) for box, ctx, msg_id, state, note, to in rows}


def _import_runs(site: Site) -> list[str]:
    with site.connect() as conn:
        return list(conn.execute(select(ImportRunRow.state)).scalars())


def _asterisk_reports(site: Site) -> dict[str, tuple[Counts, set[str]]]:
    """Per mailbox, what Asterisk reports over AMI: MailboxCount and the ids of VoicemailBoxSummary."""
    assert site.standin is not None
    ami = Ami(site.standin.port)
    try:
        ami.login(username="voicemail", secret=site.secret, events="off")
        out: dict[str, tuple[Counts, set[str]]] = {}
        for n, box in enumerate(BOXES):
            [count] = [f for f in ami.action("MailboxCount", f"count-{n}", Mailbox=box.ident) if f.get("Response")]
            summary = ami.action("VoicemailBoxSummary", f"summary-{n}", Context=box.context, Mailbox=box.mailbox)
            ids = {f.get("ID") or "" for f in events(summary, "VoicemailBoxDetail")}
            out[box.ident] = ((count.get("UrgMessages"), count.get("NewMessages"), count.get("OldMessages")), ids)
        return out
    finally:
        ami.close()


def test_new_messages_are_announced_while_an_import_runs_and_old_ones_are_imported_silently(site: Site) -> None:
    assert site.standin is not None
    site.spawn("worker", "--concurrency", "2", log="worker")
    old: list[Written] = list(fill_spool(site.spool, len(BOXES), OLD, keep=True))
    before = _asterisk_reports(site)
    assert sum(len(ids) for _counts, ids in before.values()) == OLD
    wait_for(lambda: " ready." in site.log("worker"), 30, "the worker to be ready")

    importing = site.spawn("import", "--rate", str(RATE), "--batch", "8", log="import")
    # the run is open (its cutoff on record) before the listener's first reconciliation, which then leaves
    # the old messages to it
    wait_for(lambda: _import_runs(site) == ["running"], 20, "the import run to open")
    site.spawn("run", "--no-web", log="run")
    wait_for(lambda: "reconciliation: " in site.log("run"), 30, "the listener's first reconciliation")
    assert "left to the unfinished spool import" in site.log("run")

    new: list[tuple[str, str, bytes]] = []
    for i in range(NEW):
        callerid, context = CALLERS[i % len(CALLERS)]
        box = BOXES[i % len(BOXES)]
        audio = make_wav(0.5, seed=1000 + i)
        msg_id = site.standin.leave_message(box.ident, callerid, caller_context=context, audio=audio)
        assert msg_id is not None
        new.append((box.ident, msg_id, audio))

    def announced() -> bool:
        rows = _rows(site)
        return all(rows.get((ident, msg_id), ("", None, ""))[:2] == ("stripped", "sent")
                   for ident, msg_id, _ in new)

    try:
        wait_for(announced, 20, f"the {NEW} new messages to be sealed, stripped and announced")
        # ... while the import is still at work on the old ones
        assert importing.poll() is None, "the import ended before the new messages were announced"
        assert _import_runs(site) == ["running"]
        assert len(site.emls()) == NEW
        done_meanwhile = Counter(state for key, (state, _n, _t) in _rows(site).items()
                                 if key not in {(ident, m) for ident, m, _ in new})
        assert done_meanwhile["stripped"] < OLD  # the import was in the middle of the old messages

        assert importing.wait(60) == 0, site.logs()
    except (AssertionError, subprocess.TimeoutExpired):
        print(site.logs())
        raise
    # the import took every old message; the new ones its walk came across were left to the live pipeline
    report = site.log("import")
    figures = {k: int(v) for k, v in re.findall(r"(messages seen|imported|left to the live pipeline|already in "
                                                r"custody|gone meanwhile|spool problems): (\d+)", report)}
    left = figures["left to the live pipeline"]
    assert figures == {"messages seen": OLD + left, "imported": OLD, "left to the live pipeline": left,
                       "already in custody": 0, "gone meanwhile": 0, "spool problems": 0}
    assert left <= NEW
    assert _import_runs(site) == ["done"]

    rows = _rows(site)
    assert len(rows) == OLD + NEW
    # every new message: sealed bit for bit, stripped, announced once to its mailbox's owner
    owners = {box.ident: box.email for box in BOXES}
    for ident, msg_id, audio in new:
        assert rows[(ident, msg_id)] == ("stripped", "sent", owners[ident])
        assert sha256(site.open_sealed(ident, msg_id)) == sha256(audio)
    recipients = Counter(str(email.message_from_bytes(p.read_bytes(), policy=policy.default)["To"])
                         for p in site.emls())
    assert recipients == Counter(owners[ident] for ident, _m, _a in new)
    # every old message: imported (its blobs under the import's name), stripped, never announced
    imported_blobs = {p.name.split(".")[0] for p in (site.root / "vault").rglob("*.import")}
    assert len(imported_blobs) == OLD
    for w in old:
        assert rows[(w.mailbox, w.msg_id)][:2] == ("stripped", "skipped")
    for w in old[::40]:
        assert sha256(site.open_sealed(w.mailbox, w.msg_id)) == sha256(w.audio["wav"])
    # no plaintext recording anywhere in the spool, every envelope kept
    assert site.plaintext_left() == []
    assert len(list(site.spool.rglob("msg*.txt"))) == OLD + NEW
    # Asterisk reports the spool as before, with the new messages added (unheard, in INBOX)
    after = _asterisk_reports(site)
    added = Counter(ident for ident, _m, _a in new)
    for box in BOXES:
        (urgent, unheard, heard), ids = before[box.ident]
        assert after[box.ident] == ((urgent, str(int(unheard or 0) + added[box.ident]), heard),
                                    ids | {m for ident, m, _a in new if ident == box.ident})
