"""SqlDirectoryStore and DbDirectory on SQLite and PostgreSQL: upserts, removal, the lease, freshness."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicemail.db.directory_store import SqlDirectoryStore
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.migrate import upgrade
from voicemail.directory.db_directory import DbDirectory
from voicemail.directory.errors import DirectoryUnavailable, SyncInProgress
from voicemail.directory.plan import NumberPlan
from voicemail.directory.records import DirectoryUser, PageCounts
from voicemail.domain.models import DirectoryEntry

PLAN = NumberPlan.from_strings("US", ("4",), ("+12025551000-+12025551999=1000",))
T0 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.mono = 1000.0

    def __call__(self) -> dt.datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[SqlDirectoryStore]:
    url = f"sqlite:///{tmp_path / 'dir.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    upgrade(engine)
    yield SqlDirectoryStore(make_sessionmaker(engine))
    engine.dispose()


def user(n: int, **changes: object) -> DirectoryUser:
    values: dict[str, object] = {
        "ext_id": f"id-{n}", "dn": f"cn=u{n},ou=people", "account": f"U{n}", "name": f"User {n}",
        "email": f"U{n}@Example.test", "employee_id": f"S{n}", "office": "HQ",
        "numbers": (("phone", f"+1 202 555 {1000 + n}"), ("ip_phone", str(1000 + n))), "enabled": True,
        "change_mark": str(n)}
    values.update(changes)
    return DirectoryUser(**values)  # type: ignore[arg-type]


def sync(store: SqlDirectoryStore, clock: Clock, *pages: list[DirectoryUser],
         sweep: bool = True) -> tuple[int, list[PageCounts]]:
    run = store.begin_run(lease_seconds=600, now=clock())
    counts = [store.apply_users(page, run, PLAN.key, now=clock()) for page in pages]
    removed = store.sweep_unseen(run, now=clock()) if sweep else 0
    store.finish_run(run, full=True, high_water="1", source_key="k", server_id="", plan_fingerprint=PLAN.fingerprint(),
                     now=clock())
    return removed, counts


def directory(store: SqlDirectoryStore, clock: Clock, max_age: float | None = 4 * HOUR,
              plan: NumberPlan = PLAN) -> DbDirectory:
    return DbDirectory(store, plan, max_age=max_age, clock=clock, monotonic=clock.monotonic, state_ttl=5.0)


def test_upserts_count_added_unchanged_changed_and_disabled(store: SqlDirectoryStore, clock: Clock) -> None:
    _, first = sync(store, clock, [user(1), user(2)], [user(3)])
    _, again = sync(store, clock, [user(1), user(2), user(3)])
    _, changed = sync(store, clock, [user(1, name="Renamed"), user(2, enabled=False), user(3, change_mark="99")])

    assert [(c.added, c.changed, c.unchanged) for c in first] == [(2, 0, 0), (1, 0, 0)]
    assert (again[0].added, again[0].unchanged) == (0, 3)
    # a new change mark alone (an attribute we do not map changed) is not a change
    assert (changed[0].changed, changed[0].disabled, changed[0].unchanged) == (2, 1, 1)
    assert store.counts() == {"users": 3, "active": 2, "numbers": 4}


def test_lookups_find_the_one_active_user_of_a_number_under_the_plan(store: SqlDirectoryStore, clock: Clock) -> None:
    sync(store, clock, [user(1), user(2)])
    d = directory(store, clock)

    for raw in ("1001", "+1 202 555 1001", "(202) 555-1001"):
        assert d.lookup(raw) == DirectoryEntry(number="1001", name="User 1", email="U1@Example.test")
    assert d.lookup("1003") is None
    assert d.lookup("not a number") is None


def test_a_number_two_active_users_share_is_ambiguous(store: SqlDirectoryStore, clock: Clock) -> None:
    shared = (("phone", "1500"),)
    sync(store, clock, [user(1, numbers=shared), user(2, numbers=shared)])
    assert directory(store, clock).lookup("1500") is None

    sync(store, clock, [user(1, numbers=shared), user(2, numbers=shared, enabled=False)])
    found = directory(store, clock).lookup("1500")
    assert found is not None and found.name == "User 1"


def test_users_missing_from_a_complete_pass_are_removed_and_come_back(store: SqlDirectoryStore, clock: Clock) -> None:
    sync(store, clock, [user(1), user(2), user(3)])

    removed, _ = sync(store, clock, [user(1), user(2)])

    assert removed == 1
    assert directory(store, clock).lookup("1003") is None
    gone = store.user("id-3")
    assert gone is not None and gone.removed and not gone.active
    _, back = sync(store, clock, [user(1), user(2), user(3)])
    assert back[0].added == 1
    assert directory(store, clock).lookup("1003") is not None


def test_users_seen_by_the_id_only_pass_are_kept(store: SqlDirectoryStore, clock: Clock) -> None:
    sync(store, clock, [user(1), user(2)])
    run = store.begin_run(lease_seconds=600, now=clock())
    store.apply_users([user(1, name="Changed")], run, PLAN.key, now=clock())  # the changed-entries pass
    store.mark_seen(["id-1", "id-2"], run, now=clock())  # the id-only pass

    assert store.sweep_unseen(run, now=clock()) == 0


def test_only_one_run_holds_the_lease_until_it_expires(store: SqlDirectoryStore, clock: Clock) -> None:
    first = store.begin_run(lease_seconds=600, now=clock())
    with pytest.raises(SyncInProgress):
        store.begin_run(lease_seconds=600, now=clock())

    clock.advance(601)  # the first sync died without releasing its lease
    second = store.begin_run(lease_seconds=600, now=clock())

    assert second == first + 1
    with pytest.raises(SyncInProgress):
        store.apply_users([user(1)], first, PLAN.key, now=clock())
    with pytest.raises(SyncInProgress):
        store.finish_run(first, full=True, high_water="", source_key="", server_id="", plan_fingerprint="",
                         now=clock())
    store.fail_run(second, "DirectoryUnavailable: gone")
    state = store.state()
    assert state is not None and state.running_since is None and state.last_error == "DirectoryUnavailable: gone"
    assert store.begin_run(lease_seconds=600, now=clock()) == second + 1  # released: no need to wait


def test_mailbox_and_web_account_mapping_by_mail_and_sign_in_name(store: SqlDirectoryStore, clock: Clock) -> None:
    sync(store, clock, [user(1), user(2, enabled=False)])

    assert [u.account for u in store.by_email("u1@example.TEST")] == ["U1"]
    found = store.by_account("u1")
    assert found is not None and (found.name, found.employee_id) == ("User 1", "S1")
    assert store.by_account("U2") is None and store.by_email("U2@Example.test") == []  # disabled


def test_a_never_synced_directory_is_not_trusted(store: SqlDirectoryStore, clock: Clock) -> None:
    with pytest.raises(DirectoryUnavailable, match="never been synchronised"):
        directory(store, clock).lookup("1001")
    assert directory(store, clock).lookup("anonymous") is None  # not a number: nobody, whatever the state


def test_the_copy_is_trusted_for_max_age_after_the_last_successful_sync(
        store: SqlDirectoryStore, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    sync(store, clock, [user(1)])
    d = directory(store, clock)
    clock.advance(4 * HOUR - 10)
    assert d.lookup("1001") is not None

    clock.advance(11)
    with caplog.at_level(logging.WARNING), pytest.raises(DirectoryUnavailable, match="old"):
        d.lookup("1001")
    with pytest.raises(DirectoryUnavailable):
        d.lookup("1001")
    assert [r.getMessage() for r in caplog.records if "not trusted" in r.getMessage()].__len__() == 1  # once
    assert not any("1001" in r.getMessage() or "User 1" in r.getMessage() for r in caplog.records)

    sync(store, clock, [user(1)])  # the directory is back: trusted at once, a stale verdict is not cached
    assert d.lookup("1001") is not None
    assert directory(store, clock, max_age=None).lookup("1001") is not None


def test_owners_view_ignores_the_freshness_limit(store: SqlDirectoryStore, clock: Clock) -> None:
    sync(store, clock, [user(1)])
    clock.advance(30 * 24 * HOUR)

    with pytest.raises(DirectoryUnavailable):
        directory(store, clock).lookup("1001")
    owner = directory(store, clock).owners().lookup("1001")
    assert owner is not None and owner.email == "U1@Example.test"


def test_a_changed_number_plan_distrusts_the_stored_keys(store: SqlDirectoryStore, clock: Clock) -> None:
    sync(store, clock, [user(1)])
    other = NumberPlan.from_strings("US", ("4",), ())

    with pytest.raises(DirectoryUnavailable, match="number plan changed"):
        directory(store, clock, plan=other).lookup("1001")


def test_a_fresh_verdict_is_cached_briefly_but_never_past_max_age(store: SqlDirectoryStore, clock: Clock) -> None:
    sync(store, clock, [user(1)])
    d = directory(store, clock)
    clock.advance(4 * HOUR - 2)
    assert d.lookup("1001") is not None  # fresh, 2 s left: cached for 2 s, not 5

    clock.advance(3)
    with pytest.raises(DirectoryUnavailable):
        d.lookup("1001")
