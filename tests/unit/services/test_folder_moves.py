"""Pending folder moves (the telephone menu's save): the decision is recorded with its audit event in one
transaction; the move worker then makes Asterisk's folder follow, idempotently, retrying with backoff
while Asterisk cannot confirm, and drops what has nothing left to move (SQLite, a scripted Asterisk)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from voicemail.audit.chain import AuditEvent
from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.mailbox_store import SqlMailboxStore
from voicemail.db.migrate import upgrade
from voicemail.db.models import MessageRow, PendingMoveRow
from voicemail.db.pending_moves import SqlPendingMoves
from voicemail.domain.errors import AmiError
from voicemail.domain.mailbox import Viewer
from voicemail.domain.models import MailboxRef
from voicemail.services.folder_moves import FolderMoves
from voicemail.services.follow_up import FollowUpWorker
from voicemail.services.mailbox import MailboxServices

BOX = MailboxRef("default", "1001")


class Asterisk:
    """app_voicemail as the move worker sees it: msg_id -> folder; ``down`` makes every action fail.
    ``moves`` counts the VoicemailMoves that moved something."""

    def __init__(self, folders: dict[str, str]) -> None:
        self.folders = dict(folders)
        self.down = False
        self.moves = 0
        self.round_trips = 0

    def _trip(self) -> None:
        self.round_trips += 1
        if self.down:
            raise AmiError("connection lost")

    def folder_of(self, mailbox: MailboxRef, msg_id: str) -> str | None:
        self._trip()
        return self.folders.get(msg_id)

    def move(self, mailbox: MailboxRef, msg_id: str, from_folder: str, to_folder: str) -> None:
        self._trip()
        if self.folders.get(msg_id) != from_folder:
            raise AmiError("not confirmed")
        self.folders[msg_id] = to_folder
        self.moves += 1

    def move_from(self, mailbox: MailboxRef, msg_id: str, listed: str, to_folder: str) -> str | None:
        self._trip()
        if self.folders.get(msg_id) == listed:
            self.folders[msg_id] = to_folder
            self.moves += 1
            return listed
        return to_folder if self.folders.get(msg_id) == to_folder else None


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def message(engine: Engine, msg_id: str, folder: str = "INBOX", state: str = "stripped", site: str = "default") -> str:
    now = dt.datetime.now(dt.UTC)
    mid = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(insert(MessageRow).values(
            id=mid, site=site, context=BOX.context, mailbox=BOX.mailbox, msg_id=msg_id, state=state,
            folder=folder, origtime=1795000000, duration=3, urgent=False, caller_kind="internal",
            callerid_raw='"A" <1002>', caller_context="", envelope=b"", attempts=0, last_error="",
            discovered_at=now, updated_at=now))
    return mid


def saved(store: SqlPendingMoves, mid: str, listed: str = "INBOX", to: str = "Old") -> str:
    return store.decide(mid, listed, to, AuditEvent(actor="phone:1001@default", action="message.mark",
                                                    source="phone 1.1", message_id=mid,
                                                    details={"read": True, "from": listed, "to": to}))


def folder(engine: Engine, mid: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(MessageRow.folder).where(MessageRow.id == mid)).scalar_one())


def pending(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [(r.message_id, r.attempts) for r in conn.execute(select(PendingMoveRow))]


def setup(engine: Engine, asterisk: Asterisk, clock: Clock | None = None) -> tuple[SqlPendingMoves, FolderMoves]:
    store = SqlPendingMoves(make_sessionmaker(engine), AuditLog(engine))
    return store, FolderMoves(store, asterisk, None, retry_first=1.0, retry_max=8.0, alert_after=3,
                              clock=clock or Clock())


def one_saved(engine: Engine, in_asterisk: str = "INBOX") -> tuple[Asterisk, FolderMoves, str]:
    """Message 1-a (in INBOX on record, in ``in_asterisk`` in Asterisk) saved on the phone: its move to Old
    pending. Returns Asterisk, the mover and the message id."""
    asterisk = Asterisk({"1-a": in_asterisk})
    store, moves = setup(engine, asterisk)
    mid = message(engine, "1-a")
    saved(store, mid)
    return asterisk, moves, mid


def test_the_decision_is_listed_pending_and_audited_in_one_transaction(engine: Engine) -> None:
    store = SqlPendingMoves(make_sessionmaker(engine), AuditLog(engine))
    mid = message(engine, "1-a")
    saved(store, mid)
    assert folder(engine, mid) == "Old"  # the menu and the web list it in Old at once
    assert pending(engine) == [(mid, 0)]
    assert [e.action for e in AuditLog(engine).events(message_id=mid)] == ["message.mark"]

    other = message(engine, "1-b")
    with pytest.raises(ValueError):  # the audit event cannot be written: nothing of the decision stays
        store.decide(other, "INBOX", "Old", AuditEvent(actor="x", action="message.mark", outcome="bogus"))
    assert folder(engine, other) == "INBOX"
    assert pending(engine) == [(mid, 0)]
    assert AuditLog(engine).events(message_id=other) == []


def test_a_pending_move_is_carried_out_in_one_round_trip_and_then_forgotten(engine: Engine) -> None:
    asterisk, moves, mid = one_saved(engine)
    assert moves.due() == [mid]
    assert moves.carry_out(mid) == "moved"
    assert asterisk.folders == {"1-a": "Old"} and asterisk.moves == 1 and asterisk.round_trips == 1
    assert pending(engine) == [] and folder(engine, mid) == "Old"
    assert moves.carry_out(mid) == "none"


def test_a_move_already_done_before_a_crash_is_not_made_twice(engine: Engine) -> None:
    asterisk, moves, mid = one_saved(engine, "Old")  # moved, then the process died before the row was removed
    assert moves.carry_out(mid) == "moved"
    assert asterisk.moves == 0 and pending(engine) == []


def test_a_message_asterisk_has_elsewhere_is_looked_up_then_moved(engine: Engine) -> None:
    asterisk, moves, mid = one_saved(engine, "Urgent")
    assert moves.carry_out(mid) == "moved"
    assert asterisk.folders == {"1-a": "Old"} and pending(engine) == []


def test_while_asterisk_cannot_confirm_the_move_stays_pending_with_backoff_and_alerts_once(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    asterisk, clock = Asterisk({"1-a": "INBOX"}), Clock()
    store, moves = setup(engine, asterisk, clock)
    mid = message(engine, "1-a")
    saved(store, mid)
    asterisk.down = True
    waits = []
    with caplog.at_level(logging.INFO, logger="voicemail.services.folder_moves"):
        for _ in range(6):
            assert moves.due() == [mid]
            assert moves.carry_out(mid) == "retry"
            assert moves.due() == []  # not before its retry time
            with engine.connect() as conn:
                next_at = conn.execute(select(PendingMoveRow.next_at)).scalar_one()
            waits.append(round(next_at.replace(tzinfo=dt.UTC).timestamp() - clock.now))
            clock.now += 60
    assert waits == [1, 2, 4, 8, 8, 8]  # doubling up to retry_max
    assert pending(engine) == [(mid, 6)] and folder(engine, mid) == "Old"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "stays pending" in errors[0].getMessage()
    assert moves.failures == 6
    asterisk.down = False  # the outage is over
    assert moves.carry_out(mid) == "moved"
    assert asterisk.folders == {"1-a": "Old"} and pending(engine) == []


def test_nothing_left_to_move_drops_the_row(engine: Engine) -> None:
    asterisk = Asterisk({"1-b": "INBOX"})
    store, moves = setup(engine, asterisk)
    destroyed, gone = message(engine, "1-a"), message(engine, "1-b")
    saved(store, destroyed)
    saved(store, gone)
    with engine.begin() as conn:
        conn.execute(update(MessageRow).where(MessageRow.id == destroyed).values(state="shredding"))
    del asterisk.folders["1-b"]  # removed on a phone meanwhile
    assert moves.carry_out(destroyed) == "dropped"
    assert moves.carry_out(gone) == "dropped"
    assert pending(engine) == [] and asterisk.round_trips == 2  # the destroyed one never reached Asterisk


def test_a_newer_decision_is_not_undone_by_the_end_of_an_older_one(engine: Engine) -> None:
    store = SqlPendingMoves(make_sessionmaker(engine), AuditLog(engine))
    mid = message(engine, "1-a")
    first = saved(store, mid)
    second = saved(store, mid)
    assert not store.done(mid, first, "Old", 1)
    assert store.failed(mid, first, "late", 0.0) == 0
    assert pending(engine) == [(mid, 0)]
    assert store.done(mid, second, "Old", 1) and pending(engine) == []


def test_a_move_confirmed_by_the_web_supersedes_the_pending_one(engine: Engine) -> None:
    store = SqlPendingMoves(make_sessionmaker(engine), AuditLog(engine))
    mid = message(engine, "1-a")
    saved(store, mid)
    SqlMailboxStore(make_sessionmaker(engine)).set_folder(mid, "INBOX", 3)  # marked unread on the web
    assert pending(engine) == [] and folder(engine, mid) == "INBOX"


def test_the_worker_carries_out_a_woken_move_and_sweeps_up_those_left_by_a_crash(engine: Engine) -> None:
    asterisk = Asterisk({"1-a": "INBOX", "1-b": "INBOX"})
    store, moves = setup(engine, asterisk)
    left = message(engine, "1-a")
    saved(store, left)  # recorded by a run that was killed before it moved it
    worker = FollowUpWorker(moves, interval=0.1, threads=2)
    try:
        worker.start()
        assert worker.wait_idle(10)
        assert asterisk.folders["1-a"] == "Old"
        fresh = message(engine, "1-b")
        saved(store, fresh)
        worker.wake(fresh)
        assert worker.wait_idle(10)
        assert asterisk.folders == {"1-a": "Old", "1-b": "Old"} and pending(engine) == []
    finally:
        worker.close()


class Shredder:
    """Finishes shreds; the first ``failures`` attempts fail (Asterisk unreachable)."""

    def __init__(self, unfinished: list[str], failures: int = 0) -> None:
        self.unfinished = list(unfinished)
        self.failures = failures
        self.calls: list[tuple[str, str, bool]] = []

    def shred(self, message_id: str, *, actor: str, source: str, reason: str, finish: bool = True) -> str:
        self.calls.append((message_id, actor, finish))
        if self.failures:
            self.failures -= 1
            raise AmiError("connection refused")
        self.unfinished.remove(message_id)
        return "destroyed"

    def unfinished_shreds(self, limit: int = 200) -> list[str]:
        return self.unfinished[:limit]


def test_the_worker_finishes_shreds_as_their_owner_and_those_a_crash_left_as_itself(engine: Engine) -> None:
    _store, moves = setup(engine, Asterisk({}))
    shredder = Shredder(["left-by-a-crash", "deleted-now"], failures=1)
    worker = FollowUpWorker(moves, shredder, shredder, interval=0.1, shred_interval=0.2, threads=2,
                            actor="voicemail", source="test")
    try:
        worker.finish_shred("deleted-now", "phone:1001@default", "phone 1.1", "deleted by the mailbox owner")
        assert worker.wait_idle(10)
    finally:
        worker.close()
    assert shredder.unfinished == []
    actors = {(mid, actor) for mid, actor, finish in shredder.calls if finish}
    assert ("deleted-now", "phone:1001@default") in actors and ("left-by-a-crash", "voicemail") in actors
    assert len(shredder.calls) == 3  # one failed attempt, retried by the sweep


def test_a_move_overtaken_by_the_web_marking_it_unread_leaves_asterisk_as_the_web_decided(engine: Engine) -> None:
    store, moves = setup(engine, asterisk := Asterisk({"1-a": "INBOX"}))
    mid = message(engine, "1-a")
    saved(store, mid)
    web = SqlMailboxStore(make_sessionmaker(engine))
    plain = asterisk.move_from

    def overtaken(mailbox: MailboxRef, msg_id: str, listed: str, to_folder: str) -> str | None:
        web.set_folder(mid, "INBOX", 0)  # the web's mark unread found it in INBOX, just before our move
        return plain(mailbox, msg_id, listed, to_folder)

    asterisk.move_from = overtaken  # type: ignore[method-assign]
    assert moves.carry_out(mid) == "moved"
    assert asterisk.folders == {"1-a": "INBOX"} and folder(engine, mid) == "INBOX" and pending(engine) == []


def test_a_site_s_move_worker_lists_only_the_moves_of_its_own_site(engine: Engine) -> None:
    """Each site's listener carries out the moves of its own Asterisk; another site's wait for theirs."""
    everywhere = SqlPendingMoves(make_sessionmaker(engine), AuditLog(engine))
    here = message(engine, "1-a")
    there = message(engine, "1-b", site="branch")
    saved(everywhere, here)
    saved(everywhere, there)
    assert sorted(everywhere.due()) == sorted([here, there])
    branch = SqlPendingMoves(make_sessionmaker(engine), AuditLog(engine), site="branch")
    assert branch.due() == [there]
    assert SqlPendingMoves(make_sessionmaker(engine), AuditLog(engine), site="default").due() == [here]


# --- the web acting on a message whose phone decision is still pending ---------------------------------

ALICE = Viewer(account="alice", roles=frozenset(), mailboxes=(BOX,), source="web test")


class NoHolds:
    def is_held(self, message: object) -> bool:
        return False


def web(engine: Engine, control: object) -> MailboxServices:
    """The web's mailbox services on the same database (no audio, no shredding needed for marks)."""
    return MailboxServices(SqlMailboxStore(make_sessionmaker(engine)), None, None, NoHolds(),  # type: ignore[arg-type]
                           AuditLog(engine), control=control)  # type: ignore[arg-type]


class Interleaved:
    """The web's view of Asterisk, running ``meanwhile`` right after its named action returned."""

    def __init__(self, asterisk: Asterisk, action: str, meanwhile: Callable[[], object]) -> None:
        self._asterisk, self._action, self._meanwhile = asterisk, action, meanwhile

    def __getattr__(self, name: str) -> Callable[..., object]:
        plain = getattr(self._asterisk, name)
        if name != self._action:
            return plain  # type: ignore[no-any-return]

        def then(*args: object) -> object:
            result = plain(*args)
            self._action = ""  # once
            self._meanwhile()
            return result
        return then


def test_a_web_mark_unread_whose_ami_move_the_worker_overtakes_still_leaves_asterisk_in_inbox(engine: Engine) -> None:
    """The web's move (nothing to do: Asterisk still has it in INBOX), then the worker's INBOX -> Old and
    its confirmation, then the web's commit: Asterisk ends where the web's later decision says."""
    asterisk, moves, mid = one_saved(engine)
    services = web(engine, Interleaved(asterisk, "move_from", lambda: moves.carry_out(mid)))
    assert services.mark(ALICE, mid, read=False).folder == "INBOX"
    assert asterisk.folders == {"1-a": "INBOX"} and folder(engine, mid) == "INBOX" and pending(engine) == []


def test_a_phone_save_carried_out_while_the_web_marks_unread_leaves_asterisk_as_the_web_decided(
        engine: Engine) -> None:
    """The web reads the message in INBOX; the phone saves it and the worker moves it to Old before the
    web commits its mark (unread): the web's decision is the last one, Asterisk follows it."""
    asterisk = Asterisk({"1-a": "INBOX"})
    store, moves = setup(engine, asterisk)
    mid = message(engine, "1-a")

    def phone_saves() -> None:
        saved(store, mid)
        assert moves.carry_out(mid) == "moved"

    services = web(engine, Interleaved(asterisk, "folder_of", phone_saves))
    assert services.mark(ALICE, mid, read=False).folder == "INBOX"
    assert asterisk.folders == {"1-a": "INBOX"} and folder(engine, mid) == "INBOX" and pending(engine) == []


def test_a_web_mark_unread_before_the_worker_runs_supersedes_the_phone_save(engine: Engine) -> None:
    asterisk, moves, mid = one_saved(engine)
    web(engine, asterisk).mark(ALICE, mid, read=False)
    assert moves.carry_out(mid) == "none"  # nothing left for the worker
    assert asterisk.folders == {"1-a": "INBOX"} and folder(engine, mid) == "INBOX" and pending(engine) == []


def test_a_phone_save_after_a_web_mark_unread_moves_the_message_to_old(engine: Engine) -> None:
    asterisk = Asterisk({"1-a": "Old"})
    store, moves = setup(engine, asterisk)
    mid = message(engine, "1-a", folder="Old")
    web(engine, asterisk).mark(ALICE, mid, read=False)
    saved(store, mid)
    assert moves.carry_out(mid) == "moved"
    assert asterisk.folders == {"1-a": "Old"} and folder(engine, mid) == "Old" and pending(engine) == []


def test_a_message_deleted_before_its_pending_move_is_neither_moved_nor_retried(engine: Engine) -> None:
    asterisk, moves, mid = one_saved(engine)
    with engine.begin() as conn:  # deleted on the web: the key destroyed, Asterisk's copy removed
        conn.execute(update(MessageRow).where(MessageRow.id == mid).values(state="destroyed"))
    del asterisk.folders["1-a"]
    assert moves.carry_out(mid) == "dropped"
    assert asterisk.folders == {} and asterisk.round_trips == 0 and pending(engine) == [] and moves.due() == []


def test_a_message_deleted_while_its_move_is_on_the_way_is_dropped_not_resurrected(engine: Engine) -> None:
    asterisk, moves, mid = one_saved(engine)
    plain = asterisk.move_from

    def deleted_first(mailbox: MailboxRef, msg_id: str, listed: str, to_folder: str) -> str | None:
        with engine.begin() as conn:
            conn.execute(update(MessageRow).where(MessageRow.id == mid).values(state="shredding"))
        del asterisk.folders["1-a"]  # VoicemailRemove reached Asterisk just before our move
        return plain(mailbox, msg_id, listed, to_folder)

    asterisk.move_from = deleted_first  # type: ignore[method-assign]
    assert moves.carry_out(mid) == "dropped"
    assert asterisk.folders == {} and asterisk.moves == 0 and pending(engine) == [] and moves.due() == []


def test_a_web_mark_that_cannot_recheck_asterisk_leaves_the_worker_a_move_to_its_listing(engine: Engine) -> None:
    asterisk, moves, mid = one_saved(engine)

    def worker_then_outage() -> None:
        assert moves.carry_out(mid) == "moved"
        asterisk.down = True

    services = web(engine, Interleaved(asterisk, "move_from", worker_then_outage))
    assert services.mark(ALICE, mid, read=False).folder == "INBOX"  # the decision stands, audited
    assert asterisk.folders == {"1-a": "Old"} and [m for m, _ in pending(engine)] == [mid]
    asterisk.down = False
    assert moves.due() == [mid] and moves.carry_out(mid) == "moved"
    assert asterisk.folders == {"1-a": "INBOX"} and folder(engine, mid) == "INBOX" and pending(engine) == []
    marks = [e for e in AuditLog(engine).events(message_id=mid) if e.action == "message.mark"]
    assert len(marks) == 2  # the phone's save and the web's mark; the repair is not a decision


def test_a_late_phone_move_the_web_already_undid_is_left_alone_without_alarm(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    asterisk, moves, mid = one_saved(engine)
    plain = asterisk.move_from

    def then_the_web_marks_unread(mailbox: MailboxRef, msg_id: str, listed: str, to_folder: str) -> str | None:
        was = plain(mailbox, msg_id, listed, to_folder)  # INBOX -> Old, not yet confirmed in our database
        asterisk.move_from = plain  # type: ignore[method-assign]
        web(engine, asterisk).mark(ALICE, mid, read=False)  # moves it back and supersedes the phone's move
        return was

    asterisk.move_from = then_the_web_marks_unread  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        assert moves.carry_out(mid) == "moved"
    assert asterisk.folders == {"1-a": "INBOX"} and folder(engine, mid) == "INBOX" and pending(engine) == []
    assert asterisk.moves == 2 and not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_worker_moves_the_message_to_the_folder_listed_now_not_the_one_decided(engine: Engine) -> None:
    asterisk = Asterisk({"1-a": "Old"})
    store, moves = setup(engine, asterisk)
    mid = message(engine, "1-a", folder="Old")
    saved(store, mid, listed="Old", to="Old")
    with engine.begin() as conn:  # listed in INBOX since, the row left as it was
        conn.execute(update(MessageRow).where(MessageRow.id == mid).values(folder="INBOX"))
    assert moves.carry_out(mid) == "moved"
    assert asterisk.folders == {"1-a": "INBOX"} and folder(engine, mid) == "INBOX" and pending(engine) == []


def test_a_delete_supersedes_the_pending_move_and_a_move_on_its_way_leaves_the_deleted_row_alone(
        engine: Engine) -> None:
    asterisk = Asterisk({"1-a": "INBOX"})
    store, moves = setup(engine, asterisk)
    rows = SqlMailboxStore(make_sessionmaker(engine))
    queued, on_its_way = message(engine, "1-a"), message(engine, "1-b")
    asterisk.folders["1-b"] = "INBOX"
    saved(store, queued)
    saved(store, on_its_way)
    assert rows.destroy_key_unless_held(queued) == "destroyed"  # deleted on the web before the worker ran
    assert [m for m, _ in pending(engine)] == [on_its_way]
    assert moves.carry_out(queued) == "none" and asterisk.folders["1-a"] == "INBOX"  # left for the shred's remove

    plain = asterisk.move_from

    def deleted_meanwhile(mailbox: MailboxRef, msg_id: str, listed: str, to_folder: str) -> str | None:
        assert rows.destroy_key(on_its_way)
        return plain(mailbox, msg_id, listed, to_folder)

    asterisk.move_from = deleted_meanwhile  # type: ignore[method-assign]
    assert moves.carry_out(on_its_way) == "moved"  # Asterisk moved it; the shred's remove finds it in Old
    assert pending(engine) == [] and moves.due() == [] and moves.carry_out(on_its_way) == "none"
