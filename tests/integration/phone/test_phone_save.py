"""Saving on the phone (9): the decision is recorded and audited before the caller hears "saved";
Asterisk's folder follows in the background and gets there whatever happens next: the caller hangs up at
once, the AMI connection drops while the move is on its way, the service is killed before it moved it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import select

from tests.integration.phone.harness import ALICE_BOX, PIN, caller, commands, phone_site
from tests.integration.phone.test_phone_menu import folders
from tests.integration.pipeline.harness import MAILBOXES, Site, make_wav, wait_for
from voicemail.ami.blocking import BlockingAmi
from voicemail.ami.mailbox_control import AmiMailboxControl
from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine
from voicemail.db.models import MessageRow, PendingMoveRow
from voicemail.domain.mailbox import InboxQuery, Viewer
from voicemail.standin import StandinConfig, StandinThread

# PIN, listen (1) in the main menu's wait, save (9) in the wait after the message, hang up right after it
SAVE_AND_GO = caller((2.2, f"{PIN}#"), (17, "1"), (39.5, "9"), hangup_at=39.8)
ALICE = Viewer(account="phone:1001@default", roles=frozenset(), mailboxes=(ALICE_BOX,), source="phone test")


def test_a_caller_who_hangs_up_right_after_saving_leaves_the_message_in_old(tmp_path: Path) -> None:
    with phone_site(tmp_path / "site", {"saver": SAVE_AND_GO}, phone_menu_wait=8.0) as site:
        saved = site.box.leave("1001@default", make_wav(2.0, 3))
        [call] = site.run_calls([("saver", "1001")])  # returns once the moves are done
        assert any(c.startswith("CONTROL STREAM FILE ") for c in commands(call))
        assert folders(site, "1001@default") == {"Old": 1}
        c = site.box.container
        assert c.mailboxes is not None
        user = AmiMailboxControl(lambda: BlockingAmi("127.0.0.1", site.box.site.port, "voicemail",
                                                     site.box.site.secret))
        try:
            found = user.user(ALICE_BOX)
            assert found is not None and (found.new, found.old) == (0, 1)  # Asterisk's counts (the lamp)
        finally:
            user.close()
        assert c.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery(folder="Old")).total == 1
        assert c.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery(folder="INBOX")).total == 0
        with c.engine.connect() as conn:
            assert conn.execute(select(PendingMoveRow)).all() == []
        marks = [json.loads(e.details) for e in AuditLog(c.engine).events(message_id=saved)
                 if e.action == "message.mark"]
        assert [m["to"] for m in marks][:1] == ["Old"]


def test_a_move_cut_off_by_a_dropped_ami_connection_is_completed_after_the_reconnect(tmp_path: Path) -> None:
    with phone_site(tmp_path / "site", {}) as site:
        c = site.box.container
        assert c.mailboxes is not None and c.moves is not None
        first = site.box.leave("1001@default", make_wav(1.0, 3))
        second = site.box.leave("1001@default", make_wav(1.0, 4))
        c.mailboxes.save_to_old(ALICE, first)  # opens the move worker's AMI connection
        assert c.moves.wait_idle(30)
        standin = site.box.standin
        standin.pause_replies(True)  # the next move's actions get no answer...
        try:
            c.mailboxes.save_to_old(ALICE, second)
            assert c.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery(folder="INBOX")).total == 0  # listed in Old at once
            time.sleep(1.0)
            assert folders(site, "1001@default") == {"Old": 1, "INBOX": 1}
            standin.drop_connections()  # ...and the connection goes away under it
        finally:
            standin.pause_replies(False)
        assert c.moves.wait_idle(60), "the move was not completed after the reconnect"
        assert folders(site, "1001@default") == {"Old": 2}
        assert c.moves.moves.failures >= 1
        with c.engine.connect() as conn:
            assert conn.execute(select(PendingMoveRow)).all() == []
            assert set(conn.execute(select(MessageRow.folder).where(MessageRow.id.in_([first, second]))).scalars()) \
                == {"Old"}


def test_a_move_left_pending_by_a_killed_service_is_completed_at_its_next_start(tmp_path: Path) -> None:
    s = Site(tmp_path / "site", database_url=f"sqlite:///{tmp_path / 'site' / 'vm.db'}")
    s.prepare()
    standin = StandinThread(StandinConfig(spool_dir=s.spool, username="voicemail", secret=s.secret,
                                          mailboxes=MAILBOXES, timing="lab", callers={"owner": SAVE_AND_GO}))
    s.standin = standin
    s.port = standin.start()
    extra = {"VOICEMAIL_PHONE_TRUSTED_CONTEXTS": "vmmenu", "VOICEMAIL_PHONE_MENU_WAIT": "8",
             "VOICEMAIL_PHONE_STAGING_DIR": str(tmp_path / "site" / "stage"),
             "VOICEMAIL_LISTENER_LEASE_SECONDS": "4", "VOICEMAIL_LISTENER_RENEW_SECONDS": "1"}
    from click.testing import CliRunner

    from voicemail.cli import main

    result = CliRunner().invoke(main, ["phone", "pin", "set", "1001"], env=s.env(**extra), input=f"{PIN}\n")
    assert result.exit_code == 0, result.output
    box = s.spool / "default" / "1001"
    engine = make_engine(s.database_url)
    try:
        # the first run kills itself (SIGKILL) as its move worker is about to ask Asterisk to move the message
        first = s.spawn("run", "--no-web", log="run1", VOICEMAIL_FAILPOINTS="move.before_ami", **extra)
        wait_for(lambda: standin.session_count() >= 1, 30, "voicemail run to log in")
        standin.leave_message("1001@default", '"Bob Internal" <1002>', caller_context="vm-internal",
                              audio=make_wav(2.0, 8))

        def sealed() -> bool:
            with engine.connect() as conn:
                return conn.execute(select(MessageRow.state)).scalar() == "stripped"

        wait_for(sealed, 30, "custody of the message")
        standin.call_in("owner", context="vmmenu", exten="1001")
        try:
            wait_for(lambda: first.poll() is not None, 90, "the first run to be killed at the move")
        except AssertionError:
            print(s.logs())
            raise
        with engine.connect() as conn:
            assert [r.to_folder for r in conn.execute(select(PendingMoveRow))] == ["Old"]
            assert conn.execute(select(MessageRow.folder)).scalar() == "Old"  # decided and listed
        assert any((box / "INBOX").glob("msg*.txt")) and not any((box / "Old").glob("msg*.txt"))

        s.spawn("run", "--no-web", log="run2", **extra)  # the next start carries it out
        try:
            wait_for(lambda: any((box / "Old").glob("msg*.txt")), 60, "the pending move to be carried out")
        except AssertionError:
            print(s.logs())
            raise
        assert not any((box / "INBOX").glob("msg*.txt"))

        def settled() -> bool:
            with engine.connect() as conn:
                return conn.execute(select(PendingMoveRow)).first() is None

        wait_for(settled, 20, "the pending row to go")
    finally:
        engine.dispose()
        s.stop_all()


def test_a_delete_on_the_phone_destroys_the_key_at_once_and_asterisk_follows(tmp_path: Path) -> None:
    with phone_site(tmp_path / "site", {}) as site:
        c = site.box.container
        assert c.mailboxes is not None and c.moves is not None
        keep = site.box.leave("1001@default", make_wav(1.0, 3))
        gone = site.box.leave("1001@default", make_wav(1.0, 4))
        held = site.box.leave("1001@default", make_wav(1.0, 5))
        site.box.hold(held)
        blobs = [r.blob_name for r in c.store.get(gone).recordings]
        site.box.standin.pause_replies(True)  # Asterisk cannot answer: the deletes must not wait for it
        try:
            c.mailboxes.delete(ALICE, gone, later=True)
            c.mailboxes.delete(ALICE, held, later=True)
            with c.engine.connect() as conn:
                states = dict(conn.execute(select(MessageRow.id, MessageRow.state)).all())
                wrapped = conn.execute(select(MessageRow.wrapped_dek).where(MessageRow.id == gone)).scalar()
            assert states[gone] == "shredding" and wrapped is None  # beyond recall before the caller hears it
            assert [i.id for i in c.mailboxes.inbox(ALICE, ALICE_BOX, InboxQuery()).items] == [keep]
        finally:
            site.box.standin.pause_replies(False)
        assert c.moves.wait_idle(60)
        assert {p.parent.name for p in site.box.spool_files("1001@default") if p.suffix == ".txt"} == \
            {"INBOX", "Cust5"}  # the kept one, and the held one out of its owner's sight
        assert folders(site, "1001@default") == {"INBOX": 1, "Cust5": 1}
        with c.engine.connect() as conn:
            assert conn.execute(select(MessageRow.state).where(MessageRow.id == gone)).scalar() == "destroyed"
            assert conn.execute(select(MessageRow.folder).where(MessageRow.id == held)).scalar() == "Cust5"
            assert conn.execute(select(PendingMoveRow)).all() == []
        assert not any(c.vault.exists(b) for b in blobs)
        steps = [json.loads(e.details).get("step") for e in AuditLog(c.engine).events(message_id=gone)
                 if e.action == "message.shred"]
        # the key before the caller heard "deleted"; the rest by the follow-up (which states the key again)
        assert steps[0] == "key" and steps[-3:] == ["blobs", "spool", "row"]
        [hidden] = [json.loads(e.details) for e in AuditLog(c.engine).events(message_id=held)
                    if e.action == "message.delete"]
        assert hidden == {"result": "hidden", "held": True, "asterisk_folder": "pending"}
