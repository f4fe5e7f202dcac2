"""Directory sync against a real OpenLDAP server: full, incremental, disabled, removed, paging, failures."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from tests.integration.ldap.conftest import USERS, Site
from tests.integration.ldap.slapd import FORMER, PEOPLE, Slapd, user_spec
from voicemail.directory.errors import DirectoryUnavailable, SyncInProgress

ENABLED = USERS - USERS // 10  # every tenth test user is disabled (userAccountControl 514)


def test_full_sync_stores_every_user_with_the_mapped_attributes(site: Site) -> None:
    summary = site.sync().run()

    assert (summary.mode, summary.fetched, summary.added, summary.changed, summary.removed, summary.skipped) == (
        "full", USERS, USERS, 0, 0, 0)
    assert site.store.counts() == {"users": USERS, "active": ENABLED, "numbers": ENABLED * 3}
    user = site.store.by_account("USER00005")  # sign-in names are case-insensitive
    assert user is not None
    assert (user.name, user.email, user.employee_id, user.office, user.enabled) == (
        "Test User 00005", "user00005@example.test", "S000005", "Building 5", True)
    assert [u.account for u in site.store.by_email("User00005@Example.TEST")] == ["user00005"]


def test_extension_did_and_national_format_resolve_to_the_same_person(synced_site: Site) -> None:
    directory = synced_site.directory()

    found = {raw: directory.lookup(raw) for raw in ("1005", "+1 202 555 1005", "(202) 555-1005", "12025551005")}

    assert {(e.name, e.number) for e in found.values() if e is not None} == {("Test User 00005", "1005")}
    assert None not in found.values()
    mobile = directory.lookup("+1 (301) 555-0005")
    assert mobile is not None and mobile.name == "Test User 00005"
    assert directory.lookup("1999") is None  # in the DID plan, but nobody has it


def test_disabled_accounts_are_synced_but_never_found(synced_site: Site) -> None:
    disabled = user_spec(9)
    assert disabled.disabled

    assert synced_site.store.by_account(disabled.cn) is None  # only active users are returned
    assert synced_site.directory().lookup(disabled.extension) is None
    assert synced_site.directory().lookup(disabled.did) is None


def test_second_sync_is_incremental_and_fetches_only_changed_entries(site: Site, slapd: Slapd) -> None:
    site.sync().run()
    slapd.modify(user_spec(5).dn, displayName="Renamed Five")
    slapd.modify(user_spec(7).dn, ipPhone="1777")

    summary = site.sync().run()

    assert (summary.mode, summary.changed, summary.added, summary.removed) == ("incremental", 2, 0, 0)
    assert summary.fetched <= 2 + 1  # + the entry of the mark's own second (modifyTimestamp has 1 s resolution)
    directory = site.directory()
    renamed = directory.lookup("1005")
    assert renamed is not None and renamed.name == "Renamed Five"
    moved = directory.lookup("1777")
    assert moved is not None and moved.name == "Test User 00007"
    assert directory.lookup("1007") is not None  # still the desk DID +1 202 555 1007 -> 1007


def test_a_repeated_incremental_sync_changes_nothing(site: Site, slapd: Slapd) -> None:
    site.sync().run()
    slapd.modify(user_spec(5).dn, displayName="Renamed Five")
    site.sync().run()

    again = site.sync().run()

    assert again.mode == "incremental"
    assert (again.added, again.changed, again.removed) == (0, 0, 0)
    assert again.fetched <= 1  # the mark's second is read again (modifyTimestamp has 1 s resolution)


@pytest.mark.parametrize("flags", ["514", "66050"])  # ACCOUNTDISABLE, alone and with DONT_EXPIRE_PASSWORD
def test_a_user_disabled_in_the_directory_stops_being_internal_at_the_next_sync(
        site: Site, slapd: Slapd, flags: str) -> None:
    site.sync().run()
    assert site.directory().lookup("1005") is not None

    slapd.modify(user_spec(5).dn, userAccountControl=flags)
    summary = site.sync().run()

    assert (summary.mode, summary.changed, summary.disabled) == ("incremental", 1, 1)
    assert site.directory().lookup("1005") is None
    slapd.modify(user_spec(5).dn, userAccountControl="512")
    assert site.sync().run().disabled == 0
    assert site.directory().lookup("1005") is not None


def test_deleted_users_and_users_moved_out_of_the_base_are_removed(site: Site, slapd: Slapd) -> None:
    site.sync().run()
    slapd.delete(user_spec(3).dn)
    slapd.move(user_spec(4).dn, FORMER)

    summary = site.sync().run()

    assert (summary.mode, summary.removed) == ("incremental", 2)
    assert summary.fetched <= 1  # nothing changed in the base: only the mark's own second is read again
    assert site.directory().lookup("1003") is None
    assert site.directory().lookup("1004") is None
    stored = site.store.user(_ext_id_of(site, "user00004"))
    assert stored is not None and stored.removed

    slapd.move(f"cn=user00004,{FORMER}", PEOPLE)
    back = site.sync().run()
    assert (back.added, back.removed) == (1, 0)
    assert site.directory().lookup("1004") is not None


def test_new_users_are_added_incrementally(site: Site, slapd: Slapd) -> None:
    site.sync().run()
    slapd.add_user(user_spec(500), userAccountControl="512")

    summary = site.sync().run()

    assert (summary.mode, summary.added, summary.changed) == ("incremental", 1, 0)
    assert summary.fetched <= 2
    entry = site.directory().lookup("+1 202 555 1500")
    assert entry is not None and (entry.name, entry.number) == ("Test User 00500", "1500")


def test_active_directory_usn_changed_counts_for_incremental_sync(site: Site, slapd: Slapd) -> None:
    """AD's uSNChanged is a number: the next sync asks for uSNChanged >= highest seen + 1."""
    site.sync(ldap_attr_changed="uSNChanged").run()
    slapd.modify(user_spec(5).dn, displayName="Renamed Five", uSNChanged=str(USERS + 50))

    changed = site.sync(ldap_attr_changed="uSNChanged").run()
    again = site.sync(ldap_attr_changed="uSNChanged").run()

    assert (changed.mode, changed.fetched, changed.changed) == ("incremental", 1, 1)
    assert (again.mode, again.fetched) == ("incremental", 0)
    entry = site.directory().lookup("1005")
    assert entry is not None and entry.name == "Renamed Five"


def test_paged_search_streams_pages_no_larger_than_the_page_size(site: Site) -> None:
    pages: list[int] = []

    summary = site.sync(ldap_page_size=7).run(progress=pages.append)

    assert summary.added == USERS
    assert sum(pages) == USERS and max(pages) <= 7
    assert len(pages) == math.ceil(USERS / 7)


def test_a_server_that_refuses_the_page_size_fails_the_sync_and_changes_nothing(site: Site) -> None:
    site.sync().run()

    with pytest.raises(DirectoryUnavailable, match="adminLimitExceeded"):
        site.sync(ldap_page_size=500).run(full=True)  # above the server's limit of 100 per page

    state = site.store.state()
    assert state is not None and state.running_since is None and "adminLimitExceeded" in state.last_error
    assert site.store.counts()["users"] == USERS


def test_the_directory_going_away_half_way_removes_nobody(site: Site, slapd: Slapd) -> None:
    site.sync().run()
    before = site.store.state()
    pages: list[int] = []

    def kill_after_first_page(n: int) -> None:
        pages.append(n)
        slapd.kill()

    with pytest.raises(DirectoryUnavailable):
        site.sync().run(full=True, progress=kill_after_first_page)

    assert len(pages) == 1
    assert site.store.counts() == {"users": USERS, "active": ENABLED, "numbers": ENABLED * 3}
    after = site.store.state()
    assert after is not None and before is not None
    assert after.last_success_at == before.last_success_at and after.running_since is None and after.last_error


def test_only_one_sync_runs_at_a_time(site: Site) -> None:
    site.store.begin_run(lease_seconds=600, now=dt.datetime.now(dt.UTC))  # another sync holds the lease

    with pytest.raises(SyncInProgress):
        site.sync().run()


def test_changed_ldap_settings_force_a_full_sync(site: Site) -> None:
    site.sync().run()

    narrower = site.sync(ldap_filter="(&(objectClass=inetOrgPerson)(!(cn=user00001)))").run()

    assert (narrower.mode, narrower.reason, narrower.removed) == ("full", "the LDAP settings changed", 1)
    assert site.directory().lookup("1001") is None


def test_a_full_sync_is_due_after_the_full_sync_interval(site: Site) -> None:
    site.sync().run()

    summary = site.sync(ldap_full_sync_interval=0.0).run()

    assert summary.mode == "full" and "older than" in summary.reason


def _ext_id_of(site: Site, account: str) -> str:
    from sqlalchemy import select

    from voicemail.db.models import DirectoryUserRow

    with site.sessions() as s:
        return str(s.execute(select(DirectoryUserRow.ext_id).where(DirectoryUserRow.account == account)).scalar_one())
