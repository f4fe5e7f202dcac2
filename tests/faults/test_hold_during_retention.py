"""A legal hold placed while a retention run is purging: `voicemail retention run` (its own process, one
message at a time) is frozen from outside (SIGSTOP) as soon as it has destroyed its first key, an investigator
puts one of the three mailboxes whose messages are in its batch on hold, and the run goes on (SIGCONT).
Nothing held is shredded: every message of the held mailbox that still had its key when the hold was placed
is kept, sealed and readable; the rest is purged with nothing left in plaintext and no orphan in the vault.
When the frozen run was inside a key's transaction, placing the hold waits for it: that one message was
already being destroyed, and is the only one of the held mailbox the run may still finish."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Table, select, update

from tests.faults.invariants import Expected, Outcome, check, files_holding, mail_counts_from_outbox
from tests.integration.pipeline.harness import CALLERS, VOICEMAIL, Site, make_wav, wait_for
from voicemail.audit.access import Actor
from voicemail.audit.service import Investigations
from voicemail.db.engine import make_engine
from voicemail.db.models import MessageRow
from voicemail.domain.models import MailboxRef

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
ADMIN, IVY = Actor("root-admin", "cli@test"), Actor("ivy", "cli@test")
CASE = "CI-2026-0311"
BOXES = ("1001@default", "1002@default", "2001@default")
PER_MAILBOX = 3
DAY = 86400
messages = cast(Table, MessageRow.__table__)


def _keys(site: Site) -> dict[str, tuple[str, bool]]:
    """Message id -> (mailbox, still has its data key)."""
    engine = make_engine(site.database_url)
    try:
        with engine.connect() as conn:
            return {r.id: (f"{r.mailbox}@{r.context}", r.wrapped_dek is not None and r.state != "destroyed")
                    for r in conn.execute(select(messages.c.id, messages.c.context, messages.c.mailbox,
                                                 messages.c.wrapped_dek, messages.c.state))}
    finally:
        engine.dispose()


def test_a_hold_placed_during_a_retention_run_keeps_every_held_message(
        tmp_path: Path, pg_url: str, redis_url: str, report: list[Outcome]) -> None:
    site = Site(tmp_path / "site", database_url=pg_url, broker_url=redis_url)
    site.prepare()
    site.start_standin()
    standin = site.standin
    assert standin is not None
    try:
        run = site.spawn("run", "--no-web", log="run")
        worker = site.spawn("worker", "--pool", "solo", log="worker")
        wait_for(lambda: standin.session_count() >= 1, 30, "the listener to log in")
        left: list[Expected] = []
        for n in range(len(BOXES) * PER_MAILBOX):
            box = BOXES[n % len(BOXES)]
            audio = make_wav(0.5, seed=500 + n)
            caller, context = CALLERS[n % len(CALLERS)]
            msg_id = standin.leave_message(box, caller, caller_context=context, audio=audio)
            assert msg_id is not None, n
            left.append(Expected(box, msg_id, audio))
        wait_for(lambda: site.sent() >= len(left), 90, "every message sealed and notified")
        for proc in (run, worker):  # custody is done; only the retention run acts from here on
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)

        engine = make_engine(site.database_url)
        try:
            with engine.begin() as conn:  # every message was left 800 days ago: all are due
                conn.execute(update(messages).values(origtime=messages.c.origtime - 800 * DAY))
            inv = Investigations(engine)
            inv.access.grant(ADMIN, ADMIN.name, "administrator", "bootstrap")
            inv.access.grant(ADMIN, IVY.name, "investigator", "setup")
            inv.access.open_case(IVY, CASE, "OIG", "fraud")

            signing = subprocess.run([VOICEMAIL, "keys", "init-signing"], env=site.env(), capture_output=True,
                                     text=True, timeout=60)
            assert signing.returncode == 0, signing.stderr
            out = open(site.root / "retention.log", "wb")  # noqa: SIM115 (closed below)
            purge = subprocess.Popen([VOICEMAIL, "retention", "run"], stdout=out, stderr=subprocess.STDOUT,
                                     env=site.env(VOICEMAIL_RETENTION_WORKERS="1"), start_new_session=True)
            site.procs.append(purge)
            wait_for(lambda: purge.poll() is not None or not all(k for _, k in _keys(site).values()), 30,
                     "the retention run to destroy its first key", interval=0.002)
            assert purge.poll() is None, ("the run ended before the hold could be placed: nothing raced\n"
                                          + (site.root / "retention.log").read_text(errors="replace"))
            os.killpg(purge.pid, signal.SIGSTOP)
            at_pause = _keys(site)
            remaining = {box: [m for m, (b, k) in at_pause.items() if b == box and k]
                         for box in BOXES}
            held_box = max(remaining, key=lambda b: len(remaining[b]))
            assert remaining[held_box], "every message already gone"

            placed = threading.Event()

            def place_hold() -> None:
                inv.holds.place(IVY, CASE, "mailbox", mailbox=MailboxRef.parse(held_box), reason="evidence")
                placed.set()

            threading.Thread(target=place_hold, daemon=True).start()
            waited = not placed.wait(0.5)  # the frozen run holds the lock of a key being destroyed
            os.killpg(purge.pid, signal.SIGCONT)
            assert placed.wait(30), "the hold was never placed"
            purge.wait(60)
            out.close()
        finally:
            engine.dispose()
        said = (site.root / "retention.log").read_text(errors="replace")
        assert purge.returncode == 0, said
        counts = re.search(r"destroyed (\d+) record\(s\), (\d+) held", said)
        assert counts is not None, said

        after = _keys(site)
        lost_to_run = [m for m in remaining[held_box] if not after[m][1]]
        assert len(lost_to_run) <= (1 if waited else 0), f"held messages shredded: {lost_to_run}"
        kept_ids = {m for m, (_, k) in after.items() if k}
        assert all(after[m][0] == held_box for m in kept_ids), "a message outside the hold was kept"
        kept = [e for e in left if _id_of(site, e) in kept_ids]
        purged = [e for e in left if _id_of(site, e) not in kept_ids]
        assert int(counts.group(2)) == len(kept)
        outcome = check(site, "legal hold placed during a retention run (run frozen after its first key)", kept,
                        mail_counts_from_outbox(site),
                        note=f"{len(left)} due in 3 mailboxes; purged {len(purged)} "
                        f"({sum(1 for _, k in at_pause.values() if not k)} before the "
                        f"hold), held {len(kept)} of {held_box.split('@')[0]}'s (all kept, sealed, readable); "
                        "sealed/notified count the held ones")
        outcome.arrived = len(left)
        outcome.lost = 0
        for exp in purged:  # a purged message leaves no readable piece anywhere either
            if files_holding(site.root, exp.needles()):
                outcome.plaintext_left += 1
                outcome.violations.append(f"{exp.msg_id}: purged, but its audio is still in a file")
        report.append(outcome)
        assert outcome.violations == [], outcome.violations
    finally:
        with contextlib.suppress(Exception):
            for proc in site.procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGCONT)
        site.stop_all()


def _id_of(site: Site, exp: Expected) -> str:
    with site.store() as store:
        record = store.find(MailboxRef.parse(exp.mailbox), exp.msg_id)
    assert record is not None
    return record.id

