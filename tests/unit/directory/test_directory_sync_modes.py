"""DirectorySync's decisions (full or incremental, the filter it sends, the high-water mark, failures) with an
in-memory source that answers LDAP filters the way a server would for these simple shapes. The same
behaviour against a real OpenLDAP is in tests/integration/ldap."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from voicemail.db.directory_store import SqlDirectoryStore
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.migrate import upgrade
from voicemail.directory.errors import DirectoryUnavailable
from voicemail.directory.ldap_mapping import AttributeMap
from voicemail.directory.ldap_source import LdapOptions, RawEntry
from voicemail.directory.plan import NumberPlan
from voicemail.directory.records import PageCounts
from voicemail.directory.sync import DirectorySync

PLAN = NumberPlan.from_strings("US", ("4",), ())
BASE = "(objectClass=user)"
AD_OPTIONS = LdapOptions(url="ldaps://dc1.agency.example", base_dn="DC=agency,DC=example", search_filter=BASE,
                         page_size=2)


class MemoryDirectory:
    """Users as AD would return them; answers the base filter and (&base(uSNChanged>=N))."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, list[bytes]]] = {}
        self.usn = 0
        self.server = "CN=NTDS Settings,CN=DC1"
        self.filters: list[str] = []
        self.fail_after_pages: int | None = None

    def put(self, n: int, *, disabled: bool = False, name: str | None = None) -> None:
        self.usn += 1
        self.entries[f"cn=u{n}"] = {
            "objectGUID": [n.to_bytes(16, "big")], "sAMAccountName": [f"u{n}".encode()],
            "displayName": [(name or f"User {n}").encode()], "ipPhone": [str(1000 + n).encode()],
            "userAccountControl": [b"514" if disabled else b"512"], "uSNChanged": [str(self.usn).encode()]}

    @contextmanager
    def open(self) -> Iterator[MemoryDirectory]:
        yield self

    def server_identity(self) -> str:
        return self.server

    def pages(self, search_filter: str, attributes: list[str]) -> Iterator[list[RawEntry]]:
        self.filters.append(search_filter)
        low = 0
        if match := re.fullmatch(re.escape(f"(&{BASE}(uSNChanged>=") + r"(\d+)\)\)", search_filter):
            low = int(match.group(1))
        elif search_filter != BASE:
            raise AssertionError(f"unexpected filter {search_filter}")
        found = [(dn, {k: v for k, v in raw.items() if k in attributes}) for dn, raw in sorted(self.entries.items())
                 if int(raw["uSNChanged"][0]) >= low]
        for i in range(0, len(found), AD_OPTIONS.page_size):
            if self.fail_after_pages is not None and i // AD_OPTIONS.page_size >= self.fail_after_pages:
                raise DirectoryUnavailable("searching dc1.agency.example: connection reset")
            yield found[i:i + AD_OPTIONS.page_size]


class Clock:
    now = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def ad() -> MemoryDirectory:
    directory = MemoryDirectory()
    for n in range(5):
        directory.put(n, disabled=n == 4)
    return directory


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlDirectoryStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'dir.db'}")
    upgrade(engine)
    yield SqlDirectoryStore(make_sessionmaker(engine))
    engine.dispose()


def syncer(store: SqlDirectoryStore, ad: MemoryDirectory, *, options: LdapOptions = AD_OPTIONS,
           plan: NumberPlan = PLAN, clock: Clock | None = None) -> DirectorySync:
    return DirectorySync(store, plan, options, open_source=ad.open, clock=clock or Clock())


def test_first_sync_is_full_then_incremental_from_the_highest_usn_plus_one(
        store: SqlDirectoryStore, ad: MemoryDirectory) -> None:
    first = syncer(store, ad).run()
    ad.put(2, name="Renamed")
    second = syncer(store, ad).run()

    assert (first.mode, first.reason, first.added, first.fetched) == ("full", "first sync", 5, 5)
    assert (second.mode, second.fetched, second.changed) == ("incremental", 1, 1)
    assert ad.filters[1] == f"(&{BASE}(uSNChanged>=6))"  # 5 users had USN 1..5
    assert ad.filters[2] == BASE  # the id-only pass that notices deletions
    state = store.state()
    assert state is not None and state.high_water == "6"


def test_an_incremental_sync_notices_deleted_users(store: SqlDirectoryStore, ad: MemoryDirectory) -> None:
    syncer(store, ad).run()
    del ad.entries["cn=u1"]

    summary = syncer(store, ad).run()

    assert (summary.mode, summary.fetched, summary.removed) == ("incremental", 0, 1)


@pytest.mark.parametrize("options", [
    dataclasses.replace(AD_OPTIONS, url="ldaps://dc2.agency.example"),
    dataclasses.replace(AD_OPTIONS, base_dn="OU=Staff,DC=agency,DC=example"),
    dataclasses.replace(AD_OPTIONS, attributes=AttributeMap(ip_phone="telephoneNumber")),
], ids=["url", "base_dn", "attribute"])
def test_changed_ldap_settings_force_a_full_sync(store: SqlDirectoryStore, ad: MemoryDirectory,
                                                 options: LdapOptions) -> None:
    syncer(store, ad).run()
    summary = syncer(store, ad, options=options).run()
    assert (summary.mode, summary.reason) == ("full", "the LDAP settings changed")


def test_another_domain_controller_forces_a_full_sync(store: SqlDirectoryStore, ad: MemoryDirectory) -> None:
    """uSNChanged is counted per domain controller: a mark from DC1 means nothing to DC2."""
    syncer(store, ad).run()
    ad.server = "CN=NTDS Settings,CN=DC2"
    summary = syncer(store, ad).run()
    assert summary.mode == "full" and summary.reason.startswith("another domain controller answers")


def test_a_changed_number_plan_forces_a_full_sync(store: SqlDirectoryStore, ad: MemoryDirectory) -> None:
    syncer(store, ad).run()
    summary = syncer(store, ad, plan=NumberPlan.from_strings("US", ("4", "5"), ())).run()
    assert (summary.mode, summary.reason) == ("full", "the number plan changed")


def test_a_full_sync_is_due_after_the_full_sync_interval(store: SqlDirectoryStore, ad: MemoryDirectory) -> None:
    clock = Clock()
    syncer(store, ad, clock=clock).run()
    clock.now = Clock.now + dt.timedelta(hours=25)

    summary = syncer(store, ad, clock=clock).run()

    assert summary.mode == "full" and "ldap_full_sync_interval" in summary.reason


def test_without_a_change_attribute_every_sync_is_full(store: SqlDirectoryStore, ad: MemoryDirectory) -> None:
    options = dataclasses.replace(AD_OPTIONS, attributes=AttributeMap(changed=""))
    syncer(store, ad, options=options).run()
    summary = syncer(store, ad, options=options).run()
    assert summary.mode == "full" and "ldap_attr_changed" in summary.reason


def test_a_failure_half_way_sweeps_nobody_keeps_the_mark_and_releases_the_lease(
        store: SqlDirectoryStore, ad: MemoryDirectory) -> None:
    syncer(store, ad).run()
    before = store.state()
    ad.fail_after_pages = 1

    with pytest.raises(DirectoryUnavailable):
        syncer(store, ad).run(full=True)

    after = store.state()
    assert before is not None and after is not None
    assert (after.high_water, after.last_success_at, after.running_since) == (before.high_water,
                                                                             before.last_success_at, None)
    assert after.last_error == "searching dc1.agency.example: connection reset"
    assert store.counts()["users"] == 5
    ad.fail_after_pages = None
    assert syncer(store, ad).run().mode == "incremental"  # the next run goes on from the old mark


def test_progress_reports_each_committed_page(store: SqlDirectoryStore, ad: MemoryDirectory) -> None:
    pages: list[int] = []
    syncer(store, ad).run(progress=pages.append)
    assert pages == [2, 2, 1]


def test_a_database_error_is_recorded_without_the_directory_data_it_quotes(
        store: SqlDirectoryStore, ad: MemoryDirectory, caplog: pytest.LogCaptureFixture) -> None:
    import sqlalchemy.exc

    class FailingStore(SqlDirectoryStore):
        def apply_users(self, *args: object, **kwargs: object) -> PageCounts:
            raise sqlalchemy.exc.IntegrityError("INSERT INTO directory_users ...", {"name": "Alice Secret"},
                                                Exception("UNIQUE constraint failed: directory_users.ext_id"))

    failing = FailingStore(store._sessions)
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        DirectorySync(failing, PLAN, AD_OPTIONS, open_source=ad.open).run()

    state = failing.state()
    assert state is not None and state.running_since is None
    assert state.last_error == "IntegrityError (Exception: UNIQUE constraint failed: directory_users.ext_id)"
    assert "Alice" not in caplog.text
