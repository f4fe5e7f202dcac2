"""The first start of a site's listener on a spool that already holds a backlog: refused when the site was
never served and the spool holds more than first_start_backlog messages, and the spool is counted only as
far as that decision needs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from voicemail.db.engine import make_engine
from voicemail.db.import_store import SqlImportStore
from voicemail.db.listener_lease import LeaseStore
from voicemail.db.migrate import upgrade
from voicemail.db.models import MessageRow, utcnow
from voicemail.db.site_history import SiteHistory
from voicemail.domain.errors import ConfigError
from voicemail.services.first_start import FirstStartBacklog, FirstStartGuard
from voicemail.spool import FileSpool
from voicemail.standin.spool_fill import fill_spool


class Spool:
    """A spool of ``held`` envelopes that records the limit each count was asked for."""

    def __init__(self, held: int) -> None:
        self.held = held
        self.limits: list[int] = []

    def count(self, limit: int) -> int:
        self.limits.append(limit)
        return min(self.held, limit)


def guard(spool: Spool, served: bool = False) -> FirstStartGuard:
    return FirstStartGuard(lambda _site: served, spool.count)


def test_a_site_never_served_with_more_messages_than_the_threshold_is_refused() -> None:
    spool = Spool(held=5000)
    with pytest.raises(FirstStartBacklog) as refused:
        guard(spool).check("branch", 50)
    assert (refused.value.site, refused.value.threshold) == ("branch", 50)
    assert spool.limits == [51]  # counting stopped one past the threshold


def test_a_spool_at_the_threshold_starts() -> None:
    spool = Spool(held=50)
    guard(spool).check("default", 50)
    assert spool.limits == [51]


def test_a_site_served_before_starts_without_counting_its_spool() -> None:
    spool = Spool(held=5000)
    guard(spool, served=True).check("default", 50)
    assert spool.limits == []


def test_threshold_zero_turns_the_check_off() -> None:
    spool = Spool(held=5000)
    guard(spool).check("default", 0)
    assert spool.limits == []


def test_a_missing_spool_root_is_left_to_the_listener() -> None:
    def missing(_limit: int) -> int:
        raise ConfigError("voicemail spool root not found")

    FirstStartGuard(lambda _site: False, missing).check("default", 50)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(e)
    yield e
    e.dispose()


def _record_message(engine: Engine, site: str) -> None:
    with sessionmaker(engine).begin() as s:
        s.add(MessageRow(id=str(uuid.uuid4()), site=site, context="default", mailbox="1001",
                         msg_id=f"1795978545-{uuid.uuid4().hex[:8]}", state="stripped", folder="INBOX",
                         origtime=1795978545, duration=3, urgent=False, callerid_raw="", caller_kind="external",
                         envelope=b"", attempts=1, last_error="", discovered_at=utcnow(), updated_at=utcnow()))


def test_a_fresh_database_and_another_sites_history_do_not_count_as_served(engine: Engine) -> None:
    history = SiteHistory(engine)
    assert not history.served_before("default")
    _record_message(engine, "branch")
    SqlImportStore(sessionmaker(engine), site="other").open_run(1_700_000_000, False, "tester")
    assert not history.served_before("default")
    assert history.served_before("branch") and history.served_before("other")


def test_an_import_run_or_a_listener_lease_makes_a_site_served(engine: Engine) -> None:
    history = SiteHistory(engine)
    SqlImportStore(sessionmaker(engine), site="imported").open_run(1_700_000_000, False, "tester")
    assert LeaseStore(engine).acquire("listened", "host:1", 15.0) is not None
    assert history.served_before("imported")  # a run in any state, even one still running
    assert history.served_before("listened")  # a stand-by, or a restart after a first run on an empty spool
    assert not history.served_before("default")


def test_counting_envelopes_stops_at_the_limit(tmp_path: Path) -> None:
    list(fill_spool(tmp_path / "spool", mailboxes=3, messages=30))
    spool = FileSpool(tmp_path / "spool")
    assert spool.count_envelopes() == 30
    assert spool.count_envelopes(11) == 11
    assert spool.count_envelopes(100) == 30
