"""The listener lease: taken by one holder per site, fencing tokens that grow, expiry on the database's
clock, and a holder whose own view ran out (a frozen process) that acts no more. Real SQLite and PostgreSQL;
the holder's monotonic clock is a settable one, so nothing here waits."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select, text

from tests.conftest import fresh_pg_database
from voicemail.ami.actions import VoicemailUser
from voicemail.ami.client import AmiClient
from voicemail.ami.listener import Listener
from voicemail.audit.tables import audit_events
from voicemail.db.batch_store import SqlBatchStore
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.listener_lease import LeaseFence, LeaseStore
from voicemail.db.migrate import upgrade
from voicemail.db.models import MailboxRow, MessageRow
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.errors import AmiError, ListenerLeaseLost
from voicemail.domain.models import Caller, MailboxRef
from voicemail.domain.records import MailboxOwner
from voicemail.services.discovery import Discovery, ScanReport
from voicemail.services.listener_lease import ListenerLease
from voicemail.spool import FileSpool


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'lease.db'}")
        upgrade(eng)
        yield eng
        eng.dispose()
        return
    with fresh_pg_database() as url:
        eng = make_engine(url)
        upgrade(eng)
        yield eng
        eng.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_holder_per_site_and_every_acquisition_gets_a_larger_token(engine: Engine) -> None:
    store = LeaseStore(engine)
    assert store.acquire("default", "a", 60) == 1
    assert store.acquire("default", "b", 60) is None  # held and not expired
    assert store.acquire("other-site", "b", 60) == 1  # keyed by site
    assert store.acquire("default", "a", 60) == 2  # the holder again: a new acquisition, a new token
    holder = store.current("default")
    assert holder is not None and holder.holder == "a" and holder.token == 2
    assert 55 < holder.seconds_left < 60.01  # computed by the database (SQLite: julianday, float precision)


def test_every_sites_holder_is_listed_with_the_time_left_on_its_lease(engine: Engine) -> None:
    store = LeaseStore(engine)
    assert store.holders() == {}
    store.acquire("default", "a", 60)
    store.acquire("branch", "b", -30)  # lapsed half a minute ago on the database's clock
    holders = store.holders()
    assert sorted(holders) == ["branch", "default"]
    assert holders["default"].holder == "a" and 55 < holders["default"].seconds_left < 60.01
    assert holders["branch"].holder == "b" and -35 < holders["branch"].seconds_left <= -29.99


def test_an_expired_lease_is_taken_over_and_the_old_token_is_fenced_off(engine: Engine) -> None:
    store = LeaseStore(engine)
    assert store.acquire("default", "a", -1) == 1  # already past its expiry on the database's clock
    assert store.acquire("default", "b", 60) == 2
    assert not store.renew("default", "a", 1, 60)
    assert not store.is_current("default", 1)
    assert store.is_current("default", 2)
    assert store.renew("default", "b", 2, 60)


def test_a_released_lease_is_free_at_once(engine: Engine) -> None:
    store = LeaseStore(engine)
    token = store.acquire("default", "a", 60)
    assert token is not None
    store.release("default", "a", token)
    assert store.acquire("default", "b", 60) == token + 1


def test_a_holder_frozen_past_its_lease_acts_no_more_and_steps_down_without_renewing(engine: Engine) -> None:
    clock = Clock()
    store = LeaseStore(engine)
    lease = ListenerLease(store, "default", duration=15, renew_every=5, holder="a", clock=clock)
    assert asyncio.run(lease.wait_acquired()) == 1
    assert lease.held()
    lease.fence()  # no error: the database agrees
    clock.now += 20  # SIGSTOP for 20 s: the monotonic clock ran on
    assert not lease.held()
    with pytest.raises(ListenerLeaseLost):
        lease.fence()
    with pytest.raises(ListenerLeaseLost):
        asyncio.run(lease.keep())
    assert store.is_current("default", 1)  # it never renewed; the database's lease simply runs out


def test_the_fence_refuses_a_holder_whose_token_was_superseded_even_while_its_own_view_holds(
        engine: Engine) -> None:
    store = LeaseStore(engine)
    old = ListenerLease(store, "default", duration=15, renew_every=5, holder="a", clock=Clock())
    asyncio.run(old.wait_acquired())
    store.release("default", "a", 1)  # the lease passed on while the old holder still believes it holds
    assert store.acquire("default", "b", 15) == 2
    assert old.held()
    with pytest.raises(ListenerLeaseLost):
        old.fence()


def test_the_ami_client_neither_logs_in_nor_sends_while_the_lease_is_not_held() -> None:
    client = AmiClient("127.0.0.1", 9, "voicemail", "secret", gate=lambda: False)
    with pytest.raises(AmiError, match="listener lease"):
        asyncio.run(client.connect())


def one_message_spool(tmp_path: Path, captures: Path) -> FileSpool:
    """A spool holding one new message, in default/1001/INBOX."""
    inbox = tmp_path / "spool" / "default" / "1001" / "INBOX"
    inbox.mkdir(parents=True)
    shutil.copyfile(captures / "msg0000.txt", inbox / "msg0000.txt")
    shutil.copyfile(captures / "msg0000.wav", inbox / "msg0000.wav")
    return FileSpool(tmp_path / "spool", grace_seconds=0)


def test_a_stale_listener_records_nothing_from_the_spool(tmp_path: Path, captures: Path) -> None:
    spool = one_message_spool(tmp_path, captures)
    engine = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    store = LeaseStore(engine)
    clock = Clock()
    lease = ListenerLease(store, "default", duration=15, renew_every=5, holder="a", clock=clock)
    asyncio.run(lease.wait_acquired())
    found: list[str] = []
    discovery = Discovery(spool, SqlMessageStore(make_sessionmaker(engine)),
                          lambda _env: Caller.external(), found.append)
    listener = Listener(None, discovery, lambda _owner: None, fence=lease.fence)  # type: ignore[arg-type]
    clock.now += 30  # frozen past its lease, then resumed
    with pytest.raises(ListenerLeaseLost):
        asyncio.run(listener.reconcile())
    assert found == []
    clock.now = 1000.0  # control: with a current lease the same pass records the message
    asyncio.run(listener.reconcile())
    assert len(found) == 1
    engine.dispose()


def test_a_stand_by_exports_the_lease_gauge_as_0_and_the_holder_as_1(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from voicemail.observe.collector import RuntimeCollector
    from voicemail.observe.runtime import ListenerRuntime

    engine = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    store = LeaseStore(engine)
    store.acquire("default", "someone-else", 60)
    lease = ListenerLease(store, "default", duration=15, renew_every=5, holder="me", clock=Clock())
    client = AmiClient("127.0.0.1", 9, "voicemail", "secret")

    def gauge() -> str:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(RuntimeCollector(ListenerRuntime(client, Listener(client, None, print), lease)))  # type: ignore[arg-type]
        line = next(x for x in generate_latest(registry).decode().splitlines()
                    if x.startswith("voicemail_listener_lease_held "))
        return line.split()[1]

    assert gauge() == "0.0"
    store.release("default", "someone-else", 1)
    asyncio.run(lease.wait_acquired())
    assert gauge() == "1.0"
    engine.dispose()


@pytest.mark.parametrize(("lease", "renew"), [("15", "8"), ("15", "0"), ("4", "-1")])
def test_a_renewal_interval_above_half_the_lease_is_refused_with_the_setting_named(lease: str, renew: str) -> None:
    from voicemail.config import load_settings
    from voicemail.domain.errors import ConfigError

    with pytest.raises(ConfigError, match="listener_renew_seconds"):
        load_settings(environ={"VOICEMAIL_LISTENER_LEASE_SECONDS": lease, "VOICEMAIL_LISTENER_RENEW_SECONDS": renew})


def test_the_database_outage_is_logged_once_by_a_stand_by(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Down:
        def acquire(self, site: str, holder: str, seconds: float) -> int | None:
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls < 4:
                raise OSError("database unreachable")
            return 7

    lease = ListenerLease(Down(), "default", duration=4, renew_every=0.01, holder="a")  # type: ignore[arg-type]
    with caplog.at_level("INFO", logger="voicemail.services.listener_lease"):
        assert asyncio.run(lease.wait_acquired()) == 7
    text = caplog.text
    assert text.count("did not answer") == 1 and text.count("answers again") == 1
    assert "stand-by for site" not in text  # nobody else was said to hold it: the database did not answer


# --- the fence inside the listener's writes -----------------------------------------------------------------
def rows(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("batched", [True, False], ids=["batch", "one-by-one"])
def test_a_stand_by_taking_over_between_the_listeners_check_and_its_write_leaves_the_write_refused(
        engine: Engine, tmp_path: Path, captures: Path, batched: bool) -> None:
    spool = one_message_spool(tmp_path, captures)
    store = LeaseStore(engine)
    lease = ListenerLease(store, "default", duration=15, renew_every=5, holder="a", clock=Clock())
    assert asyncio.run(lease.wait_acquired()) == 1
    fence = LeaseFence("default", lease.held_token)  # as build_service wires it
    sessions = make_sessionmaker(engine)
    handed: list[str] = []

    def hand_over(ids: list[str]) -> None:  # as build_service's submit_batch: fenced before enqueueing
        lease.fence()
        handed.extend(ids)

    discovery = Discovery(spool, SqlMessageStore(sessions, fence=fence), lambda _env: Caller.external(),
                          lambda one: hand_over([one]), on_new_batch=hand_over if batched else None,
                          batch_store=SqlBatchStore(sessions, fence=fence))

    def checked_then_overtaken() -> None:
        lease.fence()  # the listener's check passes ...
        store.release("default", "a", 1)  # ... then it is paused long enough for its lease to lapse ...
        assert store.acquire("default", "b", 15) == 2  # ... and the stand-by takes over before it writes

    listener = Listener(None, discovery, lambda _owner: None, fence=checked_then_overtaken)  # type: ignore[arg-type]
    assert lease.held()  # its own view still holds: only the database can refuse the write
    with pytest.raises(ListenerLeaseLost):
        asyncio.run(listener.reconcile())
    assert handed == []
    assert rows(engine, MessageRow.__table__) == 0
    assert rows(engine, audit_events) == 0  # nor its custody.discovered event


def test_mailbox_owners_of_a_superseded_listener_are_refused_and_stored_under_the_current_one(
        engine: Engine) -> None:
    store = LeaseStore(engine)
    assert store.acquire("default", "a", 15) == 1
    token = [1]
    owners = SqlMessageStore(make_sessionmaker(engine), fence=LeaseFence("default", lambda: token[0]))
    owner = MailboxOwner(MailboxRef("default", "1001"), "Alice", "alice@example.org")
    store.release("default", "a", 1)
    assert store.acquire("default", "b", 15) == 2
    with pytest.raises(ListenerLeaseLost):
        owners.upsert_mailbox(owner)
    assert rows(engine, MailboxRow.__table__) == 0
    token[0] = 2  # control: the current holder's writes go through
    owners.upsert_mailbox(owner)
    assert rows(engine, MailboxRow.__table__) == 1


def test_a_stand_by_acquiring_while_the_listeners_fenced_write_is_open_waits_for_its_commit(
        tmp_path: Path, captures: Path) -> None:
    """PostgreSQL: once a write has passed its fence, the lease cannot pass on until that write committed;
    the stand-by's acquire waits for it, then succeeds."""
    spool = one_message_spool(tmp_path, captures)
    with fresh_pg_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        try:
            store = LeaseStore(engine)
            token = store.acquire("default", "a", 0.5)  # lapses while the write below is open
            assert token == 1
            checked, commit = threading.Event(), threading.Event()
            fence = LeaseFence("default", lambda: token)

            def fence_then_hold(conn: Connection) -> None:
                fence(conn)
                checked.set()
                assert commit.wait(30)

            sessions = make_sessionmaker(engine)
            recorded: list[ScanReport] = []
            discovery = Discovery(spool, SqlMessageStore(sessions), lambda _env: Caller.external(), print,
                                  on_new_batch=lambda _ids: None,
                                  batch_store=SqlBatchStore(sessions, fence=fence_then_hold))
            writer = threading.Thread(target=lambda: recorded.append(discovery.scan(MailboxRef("default", "1001"))))
            writer.start()
            assert checked.wait(30)
            deadline = time.monotonic() + 10
            while (holder := store.current("default")) is not None and holder.seconds_left > 0:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            acquired: list[int | None] = []
            standby = threading.Thread(target=lambda: acquired.append(store.acquire("default", "b", 15)))
            standby.start()
            with engine.connect() as conn:  # the stand-by's acquire is blocked on the lease row's lock
                while conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND wait_event_type = 'Lock'")).scalar_one() == 0:
                    assert time.monotonic() < deadline, "the stand-by's acquire did not wait"
                    time.sleep(0.05)
            assert standby.is_alive() and acquired == []
            commit.set()
            writer.join(30)
            standby.join(30)
            assert acquired == [2]  # after the write committed, the lapsed lease passes on
            assert recorded and recorded[0].new == 1 and rows(engine, MessageRow.__table__) == 1
        finally:
            engine.dispose()



def test_a_refused_owner_save_still_leaves_every_mailbox_of_the_list_known_for_the_scans(
        monkeypatch: pytest.MonkeyPatch) -> None:
    users = [VoicemailUser("default", box, "Owner", None, 0, 0) for box in ("1001", "1002", "1003")]

    async def listed(_client: object) -> list[VoicemailUser]:
        return users

    saves: list[MailboxOwner] = []

    def refused(owner: MailboxOwner) -> None:
        saves.append(owner)
        raise ListenerLeaseLost("listener lease of site 'default' lost (token 1): write refused")

    monkeypatch.setattr("voicemail.ami.listener.voicemail_users_list", listed)
    listener = Listener(None, None, refused)  # type: ignore[arg-type]

    async def no_reconcile() -> None:
        return None

    monkeypatch.setattr(listener, "reconcile", no_reconcile)
    asyncio.run(listener.on_connect(None))  # type: ignore[arg-type]
    assert len(saves) == 1  # the first refusal stops the saves (the lease keeper steps down)
    assert listener._known == {MailboxRef("default", box) for box in ("1001", "1002", "1003")}
