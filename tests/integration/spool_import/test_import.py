"""`voicemail import` takes custody of an existing spool: sealed once, stripped, not announced by default,
resumable, and it leaves newer messages and messages the live pipeline holds alone."""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import func, select

from tests.integration.pipeline.harness import Site
from tests.integration.spool_import.conftest import fill, run_import
from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine
from voicemail.db.models import ImportRunRow, MessageRow, NotificationRow
from voicemail.domain.models import MailboxRef
from voicemail.spool.placeholder import is_placeholder_bytes


def _counts(site: Site) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    engine = make_engine(site.database_url)
    try:
        with engine.connect() as conn:
            states = dict(conn.execute(select(MessageRow.state, func.count()).group_by(MessageRow.state)).all())
            notes = dict(conn.execute(select(NotificationRow.state, func.count())
                                      .group_by(NotificationRow.state)).all())
        actions: dict[str, int] = {}
        for event in AuditLog(engine).iter_all():
            actions[event.action] = actions.get(event.action, 0) + 1
        return states, notes, actions
    finally:
        engine.dispose()


def _spool_counts(site: Site) -> tuple[int, int]:
    txt = len(list(site.spool.rglob("msg*.txt")))
    audio = [p for p in site.spool.rglob("msg*.wav")]
    return txt, sum(1 for p in audio if not is_placeholder_bytes("wav", p.read_bytes()[:64]))


def test_import_seals_strips_and_does_not_announce(site: Site) -> None:
    written = fill(site, mailboxes=6, messages=60)
    result = run_import(site, "--batch", "7")
    assert result.returncode == 0, result.stderr
    assert "imported: 60" in result.stdout
    assert "not announced" in result.stdout
    states, notes, actions = _counts(site)
    assert states == {"stripped": 60}
    assert notes == {"skipped": 60}
    assert actions["custody.import"] == actions["custody.import_end"] == 1  # the run's start and its end
    assert actions["custody.discovered"] == actions["custody.sealed"] == actions["custody.stripped"] == 60
    assert _spool_counts(site) == (60, 0)  # every .txt kept (Asterisk's counts), no plaintext audio
    assert not list((site.root / "outbox").glob("*.eml")) if (site.root / "outbox").exists() else True
    for w in written[::13]:
        assert hashlib.sha256(site.open_sealed(w.mailbox, w.msg_id)).digest() == \
            hashlib.sha256(w.audio["wav"]).digest()
    engine = make_engine(site.database_url)
    with engine.connect() as conn:
        assert conn.execute(select(ImportRunRow.state)).scalars().all() == ["done"]
    engine.dispose()


def test_a_second_run_seals_nothing_again(site: Site) -> None:
    fill(site, mailboxes=3, messages=20)
    assert run_import(site).returncode == 0
    again = run_import(site)
    assert again.returncode == 0, again.stderr
    assert "imported: 0" in again.stdout and "already in custody: 20" in again.stdout
    states, _, actions = _counts(site)
    assert states == {"stripped": 20} and actions["custody.sealed"] == 20
    assert len(list((site.root / "vault").rglob("*.import"))) == 20


def test_notify_flag_leaves_the_notifications_to_be_sent(site: Site) -> None:
    fill(site, mailboxes=2, messages=8)
    result = run_import(site, "--notify")
    assert result.returncode == 0, result.stderr
    assert "announced to their owners" in result.stdout
    _, notes, _ = _counts(site)
    assert notes == {"pending": 8}


def test_messages_newer_than_the_run_and_those_the_live_pipeline_holds_are_left_alone(site: Site) -> None:
    fill(site, mailboxes=2, messages=6)
    fill(site, mailboxes=2, messages=2, newest=int(time.time()) + 3600, years=0.0, seed=7)  # arrive "later"
    from voicemail.app import build_container

    container = build_container(site.settings(), on_new=lambda _id: None, migrate=False)
    try:  # the live pipeline discovered one old message before the import started
        box = MailboxRef("default", "10000")
        first = container.spool.scan(box).messages[0]
        container.discovery.scan(box)
    finally:
        container.close()
    result = run_import(site)
    assert result.returncode == 0, result.stderr
    states, _, _ = _counts(site)
    assert states.get("stripped") == 6 - 3  # mailbox 10000's old messages were all discovered live
    assert states.get("discovered") == 3 + 1  # ... and the newer one in that box too
    assert "left to the live pipeline: 5" in result.stdout  # 3 discovered + 2 newer
    assert first.envelope.msg_id


def test_rate_limit_slows_the_import(site: Site) -> None:
    fill(site, mailboxes=2, messages=10)
    began = time.monotonic()
    assert run_import(site, "--rate", "5").returncode == 0
    assert time.monotonic() - began >= 1.8  # 10 messages at 5/s: at least ~2 s of pacing


def test_live_discovery_leaves_old_messages_to_an_unfinished_import(site: Site) -> None:
    fill(site, mailboxes=2, messages=6)
    fill(site, mailboxes=1, messages=1, newest=int(time.time()) + 3600, years=0.0, seed=9)  # after the start
    from voicemail.app import build_container
    from voicemail.db.engine import make_sessionmaker
    from voicemail.db.import_store import INTERRUPTED, SqlImportStore

    engine = make_engine(site.database_url)
    store = SqlImportStore(make_sessionmaker(engine))
    run = store.open_run(int(time.time()), False, "tester")
    store.end_run(run, INTERRUPTED, 0)  # Ctrl-C before its first batch
    engine.dispose()
    container = build_container(site.settings(), on_new=lambda _id: None, migrate=False)
    try:
        report = container.discovery.reconcile()
    finally:
        container.close()
    assert (report.new, report.left_to_import) == (1, 6)  # only the newer message is the live pipeline's
    result = run_import(site)
    assert result.returncode == 0, result.stderr
    assert "resuming import run" in result.stderr and "imported: 6" in result.stdout
    states, notes, _ = _counts(site)
    assert states == {"stripped": 6, "discovered": 1} and notes == {"skipped": 6}
    container = build_container(site.settings(), on_new=lambda _id: None, migrate=False)
    try:
        assert container.discovery.reconcile().left_to_import == 0  # the run is done
    finally:
        container.close()


def test_ctrl_c_interrupts_and_the_next_run_resumes(site: Site) -> None:
    import os
    import signal

    from tests.integration.pipeline.harness import wait_for

    fill(site, mailboxes=3, messages=60)
    proc = site.spawn("import", "--rate", "20", "--batch", "5", log="import")

    def recorded() -> int:
        return sum(_counts(site)[0].values())

    wait_for(lambda: recorded() >= 10, 60, "a few batches")
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(30) == 130
    assert "run `voicemail import` again to resume" in (site.root / "import.log").read_text()
    engine = make_engine(site.database_url)
    with engine.connect() as conn:
        assert conn.execute(select(ImportRunRow.state)).scalars().all() == ["interrupted"]
    engine.dispose()
    again = run_import(site)
    assert again.returncode == 0, again.stderr
    assert "resuming import run" in again.stderr
    states, notes, actions = _counts(site)
    assert states == {"stripped": 60} and notes == {"skipped": 60} and actions["custody.sealed"] == 60
    assert actions["custody.import"] == actions["custody.import_end"] == 2  # one per invocation of the run


def test_the_live_sweeper_strips_a_sealed_import_without_announcing_it(site: Site) -> None:
    fill(site, mailboxes=2, messages=12)
    killed = run_import(site, "--batch", "5", VOICEMAIL_FAILPOINTS="import.after_commit=kill")
    assert killed.returncode == -9
    from voicemail.app import build_container

    container = build_container(site.settings(), on_new=lambda _id: None, migrate=False)
    try:  # what strip_message and send_notification do for a sealed message the sweeper finds stuck
        sealed = [w.id for w in container.store.stuck(0) if w.kind == "message"]
        assert len(sealed) == 5
        for message_id in sealed:
            assert container.notifier.send(container.custody.strip(message_id)) == "already"
    finally:
        container.close()
    states, notes, _ = _counts(site)
    assert states == {"stripped": 5} and notes == {"skipped": 5}
    outbox = site.root / "outbox"
    assert not outbox.exists() or not list(outbox.glob("*.eml"))
