"""The listener lease: taken by one holder per site, fencing tokens that grow, expiry on the database's
clock, and a holder whose own view ran out (a frozen process) that acts no more. Real SQLite and PostgreSQL;
the holder's monotonic clock is a settable one, so nothing here waits."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.conftest import fresh_pg_database
from voicemail.ami.client import AmiClient
from voicemail.ami.listener import Listener
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.listener_lease import LeaseStore
from voicemail.db.migrate import upgrade
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.errors import AmiError, ListenerLeaseLost
from voicemail.domain.models import Caller
from voicemail.services.discovery import Discovery
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


def test_a_stale_listener_records_nothing_from_the_spool(tmp_path: Path, captures: Path) -> None:
    inbox = tmp_path / "spool" / "default" / "1001" / "INBOX"
    inbox.mkdir(parents=True)
    shutil.copyfile(captures / "msg0000.txt", inbox / "msg0000.txt")
    shutil.copyfile(captures / "msg0000.wav", inbox / "msg0000.wav")
    engine = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    store = LeaseStore(engine)
    clock = Clock()
    lease = ListenerLease(store, "default", duration=15, renew_every=5, holder="a", clock=clock)
    asyncio.run(lease.wait_acquired())
    found: list[str] = []
    discovery = Discovery(FileSpool(tmp_path / "spool", grace_seconds=0), SqlMessageStore(make_sessionmaker(engine)),
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
