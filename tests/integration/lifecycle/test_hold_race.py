"""A legal hold placed while a message is being crypto-shredded is honoured on the real PostgreSQL: the
shredder checks the holds and destroys the key in one transaction, under a lock that placing a hold must
wait for. Covered for a direct shred, a retention run and a quota eviction."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import insert

from tests.unit.lifecycle.support import IVY, Site, keys_of, open_audio, open_case, seed
from voicemail.app import Container
from voicemail.audit.access import Access
from voicemail.audit.holds import Holds
from voicemail.audit.store import AuditLog, utc_now_iso
from voicemail.audit.tables import holds as holds_table
from voicemail.db.engine import make_sessionmaker
from voicemail.db.mailbox_store import SqlMailboxStore
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import MessageRecord
from voicemail.lifecycle.quota import QuotaEnforcer
from voicemail.lifecycle.wiring import Lifecycle
from voicemail.services.shred import CryptoShredder

pytestmark = pytest.mark.postgres
CASE = "CI-2026-0077"
BOX = MailboxRef("default", "1001")


class HoldArrivesAfterTheCheck:
    """The shredder's hold check answers; then, before the shredder goes on, an investigator places a hold
    (committed). This is the interleaving a check in one transaction and a destroy in another lose."""

    def __init__(self, real: Holds, place: Callable[[], object], after: str) -> None:
        self._real = real
        self._place = place
        self._after = after  # the message whose check the hold follows
        self.placed = False

    def is_held(self, message: MessageRecord) -> bool:
        answer = self._real.is_held(message)
        if message.id == self._after and not self.placed:
            self._place()
            self.placed = True
        return answer


def racing_shredder(c: Container, after: str,
                    place: Callable[[], object]) -> tuple[CryptoShredder, HoldArrivesAfterTheCheck]:
    audit = AuditLog(c.engine)
    check = HoldArrivesAfterTheCheck(Holds(c.engine, Access(c.engine, audit)), place, after)
    store = SqlMailboxStore(make_sessionmaker(c.engine), make_sessionmaker(c.engine))
    return CryptoShredder(store, c.vault, check, audit, None), check


@pytest.fixture
def site(tmp_path: Path, pg_url: str) -> Site:
    return Site(tmp_path / "site", pg_url)


@pytest.fixture(params=["postgresql", "sqlite"])
def any_site(request: pytest.FixtureRequest, tmp_path: Path) -> Site:
    if request.param == "sqlite":
        return Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}")
    return Site(tmp_path / "site", request.getfixturevalue("pg_url"))


def test_a_hold_placed_between_check_and_destroy_keeps_the_key(any_site: Site) -> None:
    site = any_site
    c = site.container()
    try:
        inv = open_case(c, CASE)
        message_id, audio = seed(c, age_days=800, now=time.time())
        shredder, check = racing_shredder(
            c, message_id, lambda: inv.holds.place(IVY, CASE, "message", message_ids=[message_id], reason="evidence"))
        assert shredder.shred(message_id, actor="owner", source="test", reason="delete") == "held"
        assert check.placed
        assert message_id in keys_of(c)
        assert open_audio(c, message_id) == audio
    finally:
        c.close()


def test_shredding_waits_for_a_hold_being_placed_and_honours_it(any_site: Site) -> None:
    """A hold insert still in flight (not committed) when the shred starts: the shred waits for it."""
    site = any_site
    c = site.container()
    try:
        open_case(c, CASE)
        message_id, audio = seed(c, age_days=800, now=time.time())
        outcome: list[str] = []
        shredder = c.shredder
        assert shredder is not None
        with c.engine.connect() as placing:
            tx = placing.begin()
            placing.execute(insert(holds_table).values(
                id=str(uuid.uuid4()), case_id=CASE, scope="mailbox", context=BOX.context, mailbox=BOX.mailbox,
                message_id=None, start_at=None, end_at=None, placed_by=IVY.name, placed_at=utc_now_iso()))
            worker = threading.Thread(target=lambda: outcome.append(
                shredder.shred(message_id, actor="retention", source="test", reason="expired")))
            worker.start()
            worker.join(1.0)
            assert worker.is_alive(), f"the shred did not wait for the hold being placed: {outcome}"
            tx.commit()
        worker.join(10)
        assert outcome == ["held"]
        assert open_audio(c, message_id) == audio
    finally:
        c.close()


def test_a_hold_placed_during_a_retention_run_is_honoured(site: Site) -> None:
    c = site.container()
    try:
        inv = open_case(c, CASE)
        now = time.time()
        expired, audio = seed(c, age_days=800, now=now)
        other = seed(c, age_days=900, now=now, mailbox="1002")[0]
        shredder, check = racing_shredder(
            c, expired, lambda: inv.holds.place(IVY, CASE, "mailbox", mailbox=BOX, reason="evidence"))
        c.shredder = shredder
        lc = Lifecycle(c)
        report = lc.runner("retention", "test").run()
        assert check.placed
        assert open_audio(c, expired) == audio  # its mailbox was put on hold during the run
        assert other not in keys_of(c)  # the other mailbox was not held
        assert (report.destroyed, report.held, report.failed) == (1, 1, 0)
    finally:
        c.close()


def test_a_hold_placed_during_a_quota_eviction_is_honoured(site: Site) -> None:
    c = site.container()
    try:
        inv = open_case(c, CASE)
        now = time.time()
        oldest, audio = seed(c, age_days=30, now=now, size=4000)
        newest = seed(c, age_days=1, now=now, size=4000)[0]
        shredder, check = racing_shredder(
            c, oldest, lambda: inv.holds.place(IVY, CASE, "message", message_ids=[oldest], reason="evidence"))
        enforcer = QuotaEnforcer(c.engine, Holds(c.engine, Access(c.engine, AuditLog(c.engine))), shredder,
                                 AuditLog(c.engine), site_bytes=5000, mailbox_bytes=0)
        results = enforcer.after_seal(newest)
        assert check.placed
        assert open_audio(c, oldest) == audio
        assert newest in keys_of(c)
        assert results[0].destroyed == () and results[0].alert_id is not None  # kept, alert raised
    finally:
        c.close()
