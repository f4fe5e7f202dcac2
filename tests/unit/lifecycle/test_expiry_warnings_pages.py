"""Expiry warnings read the messages due soon a page at a time (SQLite and PostgreSQL): each owner still gets
one e-mail per run naming all their unwarned messages (also when they fill several pages), held ones
counted; each message is warned once ever; an e-mail that fails is sent at the next run; the warnings of
destroyed messages are dropped; and a run's memory does not grow with the messages or the warnings."""

from __future__ import annotations

import datetime as dt
import email
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from email import policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from tests.unit.lifecycle.support import DAY, IVY, NOW, Site, fill_stripped, open_case, seed, traced_peak
from voicemail.audit.access import Access
from voicemail.audit.holds import Holds
from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.domain.errors import TransientError
from voicemail.domain.models import MailboxRef, OutgoingEmail
from voicemail.domain.records import MailboxOwner
from voicemail.lifecycle.planner import Planner
from voicemail.lifecycle.policy import RetentionPolicy
from voicemail.lifecycle.tables import expiry_warnings, lifecycle_leases
from voicemail.lifecycle.warnings import ExpiryWarner
from voicemail.lifecycle.wiring import Lifecycle

PAGE = 2


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Site:
    url = f"sqlite:///{tmp_path / 'vm.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    return Site(tmp_path / "site", url, retention_warn_days=14)


def _owners(c: Any, *boxes: str) -> None:
    for box in boxes:
        c.store.upsert_mailbox(MailboxOwner(MailboxRef("default", box), f"Owner {box}", f"o{box}@example.test"))


def _hold(c: Any, message_id: str) -> None:
    open_case(c, "CI-1").holds.place(IVY, "CI-1", "message", message_ids=[message_id])


def _sent(site: Site) -> dict[str, str]:
    """The expiry warnings in the outbox: recipient -> plain text, each e-mail read once (then removed)."""
    out: dict[str, str] = {}
    for path in sorted((site.root / "outbox").rglob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert msg["To"] not in out, "two e-mails to one owner in a run"
        body = msg.get_body(("plain",))
        assert body is not None
        out[str(msg["To"])] = body.get_content()
        path.unlink()
    return out


def _warned(c: Any) -> set[str]:
    with c.engine.connect() as conn:
        return set(conn.execute(select(expiry_warnings.c.message_id)).scalars())


def _day(age_days: float) -> str:
    """The date a new or old message left ``age_days`` before NOW is due (730 days after it was left)."""
    return f"{dt.datetime.fromtimestamp(NOW - age_days * DAY + 730 * DAY, dt.UTC):%Y-%m-%d}"


def test_one_email_per_mailbox_names_all_its_messages_across_pages_held_ones_counted(site: Site) -> None:
    c = site.container()
    _owners(c, "1001", "1002", "1003")
    first = {seed(c, age_days=729)[0], seed(c, age_days=720, folder="Old")[0], seed(c, age_days=725)[0],
             seed(c, age_days=10, hidden_days=0.5)[0], seed(c, age_days=718)[0]}  # 5 messages: 3 pages of 2
    held = seed(c, age_days=722, mailbox="1002")[0]
    second = {seed(c, age_days=721, mailbox="1002")[0], seed(c, age_days=717, mailbox="1002")[0], held}
    third = {seed(c, age_days=719, mailbox="1003")[0]}
    not_soon = {seed(c, age_days=700)[0], seed(c, age_days=800)[0],  # due later; due now
                seed(c, age_days=10, hidden_days=2, mailbox="1002")[0]}  # deleted, kept a day: due now
    seed(c, age_days=725, mailbox="1004")  # no owner on record: nobody to warn
    _hold(c, held)
    lc = Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW)

    assert lc.warner(page=PAGE).run() == 3
    mails = _sent(site)
    assert set(mails) == {"o1001@example.test", "o1002@example.test", "o1003@example.test"}
    deleted_on = f"{dt.datetime.fromtimestamp(NOW - 0.5 * DAY + DAY, dt.UTC):%Y-%m-%d}"
    assert f"5 voice message(s) in mailbox 1001 will be deleted on or after {deleted_on}" in mails["o1001@example.test"]
    assert f"3 voice message(s) in mailbox 1002 will be deleted on or after {_day(722)}" in mails["o1002@example.test"]
    assert "hold" not in mails["o1002@example.test"].lower()
    assert f"1 voice message(s) in mailbox 1003 will be deleted on or after {_day(719)}" in mails["o1003@example.test"]
    assert _warned(c) == first | second | third and not _warned(c) & not_soon

    assert lc.warner(page=PAGE).run() == 0  # each message once
    assert _sent(site) == {}
    later = {seed(c, age_days=716)[0], seed(c, age_days=716)[0]}  # now due within the window too
    assert lc.warner(page=PAGE).run() == 1
    assert "2 voice message(s) in mailbox 1001" in _sent(site)["o1001@example.test"]  # only the new ones
    assert _warned(c) == first | second | third | later
    c.close()


class _FailingFor:
    """The site's mailer, but sending to ``recipient`` fails (as an unreachable mail server would)."""

    def __init__(self, inner: Any, recipient: str) -> None:
        self._inner, self._recipient = inner, recipient

    def send(self, mail: OutgoingEmail, before_commit: Any = None) -> None:
        if mail.recipient == self._recipient:
            raise TransientError("mail server unreachable")
        self._inner.send(mail, before_commit)


def test_a_warning_that_fails_to_send_is_sent_at_the_next_run(site: Site) -> None:
    c = site.container()
    _owners(c, "1001", "1002", "1003")
    ones = {seed(c, age_days=720)[0], seed(c, age_days=721)[0], seed(c, age_days=722)[0]}
    twos = {seed(c, age_days=723, mailbox="1002")[0], seed(c, age_days=724, mailbox="1002")[0],
            seed(c, age_days=725, mailbox="1002")[0]}
    threes = {seed(c, age_days=726, mailbox="1003")[0]}
    lc = Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW)
    proto = lc.warner(page=PAGE)
    failing = ExpiryWarner(c.engine, lc.planner, c.store.owner, _FailingFor(c.mailer, "o1002@example.test"),
                           days=14, sender="voicemail@example.test", web_base_url="https://vm.example.test/",
                           page=PAGE)

    assert failing.run() == 2
    assert set(_sent(site)) == {"o1001@example.test", "o1003@example.test"}
    assert _warned(c) == ones | threes  # nothing recorded for the unsent one
    assert proto.run() == 1
    assert "3 voice message(s) in mailbox 1002" in _sent(site)["o1002@example.test"]
    assert _warned(c) == ones | twos | threes
    c.close()


class _Paused:
    """The site's mailer, but its first e-mail waits until ``go`` is set (a slow mail server)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.started, self.go = threading.Event(), threading.Event()

    def send(self, mail: OutgoingEmail, before_commit: Any = None) -> None:
        if not self.started.is_set():
            self.started.set()
            assert self.go.wait(30), "the test never let the first e-mail go"
        self._inner.send(mail, before_commit)


def _three_owners_due(c: Any) -> Lifecycle:
    _owners(c, "1001", "1002", "1003")
    for n, box in enumerate(("1001", "1002", "1003")):
        seed(c, age_days=720 + n, mailbox=box)
    return Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW)


@contextmanager
def _run_paused_at_its_first_email(c: Any, lc: Lifecycle) -> Iterator[tuple[_Paused, Future[int]]]:
    """A warning run in a thread, holding the lease, its first e-mail waiting for ``go``; its future."""
    mailer = _Paused(c.mailer)
    warner = ExpiryWarner(c.engine, lc.planner, c.store.owner, mailer, days=14, sender="voicemail@example.test",
                          web_base_url="https://vm.example.test/", page=PAGE)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(warner.run)
        assert mailer.started.wait(30)
        yield mailer, first


def test_a_second_run_while_one_is_sending_sends_nothing_and_each_owner_is_warned_once(site: Site) -> None:
    c = site.container()
    lc = _three_owners_due(c)
    with _run_paused_at_its_first_email(c, lc) as (mailer, first):
        assert lc.warner(page=PAGE).run() == 0  # the daily task and an operator's run at once
        mailer.go.set()
        assert first.result(30) == 3
    assert set(_sent(site)) == {"o1001@example.test", "o1002@example.test", "o1003@example.test"}
    assert lc.warner(page=PAGE).run() == 0  # each message warned once, and the lease was given back
    c.close()


def test_a_run_whose_lease_was_taken_sends_no_further_email(site: Site) -> None:
    c = site.container()
    lc = _three_owners_due(c)
    with _run_paused_at_its_first_email(c, lc) as (mailer, first):
        with c.engine.begin() as conn:  # the lease expired while the mail server hung, and another run took it
            conn.execute(update(lifecycle_leases).where(lifecycle_leases.c.name == "expiry-warnings")
                         .values(holder="elsewhere:1:x"))
        mailer.go.set()
        assert first.result(30) == 1  # the e-mail under way went out; no other
    assert set(_sent(site)) == {"o1001@example.test"}
    with c.engine.connect() as conn:  # the other run's lease is left alone
        assert conn.execute(select(lifecycle_leases.c.holder)).scalars().all() == ["elsewhere:1:x"]
    c.close()


def test_the_warnings_of_destroyed_messages_are_dropped_and_the_others_kept(site: Site) -> None:
    c = site.container()
    _owners(c, "1001")
    gone = {seed(c, age_days=720)[0], seed(c, age_days=725)[0]}
    held = seed(c, age_days=722)[0]
    young = seed(c, age_days=700)[0]
    _hold(c, held)
    assert Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW).warner(page=PAGE).run() == 1
    assert _warned(c) == gone | {held}
    _sent(site)

    later = NOW + 11 * DAY  # gone and held are due; young is due within the window
    lc = Lifecycle(c, now=lambda: later, db_clock=lambda: later)
    report = lc.runner("retention", "test", page=PAGE).run()
    assert (report.destroyed, report.held) == (2, 1)
    assert lc.warner(page=PAGE).run() == 0  # held is due now (not soon); young's 730 days end after 14 days
    assert _warned(c) == {held}  # the destroyed ones' warnings dropped, the held one's kept
    even_later = NOW + 20 * DAY
    assert Lifecycle(c, now=lambda: even_later, db_clock=lambda: even_later).warner(page=PAGE).run() == 1
    assert "1 voice message(s) in mailbox 1001" in _sent(site)["o1001@example.test"]
    assert _warned(c) == {held, young}
    c.close()


class _CountingMailer:
    def __init__(self) -> None:
        self.sent = 0

    def send(self, mail: OutgoingEmail, before_commit: Any = None) -> None:
        self.sent += 1


def _fill_soon(engine: Any, start: int, count: int, *, warned: bool) -> None:
    """``count`` messages due within 14 days (in 2 to 13 days), and with ``warned`` their warnings recorded."""
    ids = fill_stripped(engine, start, count, age_days=717, spread=12)
    if warned:
        with engine.begin() as conn:
            conn.execute(insert(expiry_warnings), [{"message_id": i, "warned_at": "2030-01-01T00:00:00Z"} for i in ids])


def test_a_run_holds_one_page_so_its_memory_does_not_grow_with_the_messages_or_the_warnings(tmp_path: Path) -> None:
    site = Site(tmp_path / "s", "sqlite://")
    engine = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    planner = Planner(engine, Holds(engine, Access(engine, AuditLog(engine))),
                      RetentionPolicy.from_settings(site.settings), lambda: NOW)
    mailer = _CountingMailer()
    warner = ExpiryWarner(engine, planner, lambda box: MailboxOwner(box, "Owner", "owner@example.test"), mailer,
                          days=14, sender="voicemail@example.test", web_base_url="https://vm.example.test/",
                          page=500)
    _fill_soon(engine, 0, 500, warned=False)
    assert warner.run() == 5  # warm: compiled statements, imports
    _fill_soon(engine, 500, 4_500, warned=False)
    small, sent_small = traced_peak(warner.run)  # 4,500 messages warned, 5,000 warnings recorded
    _fill_soon(engine, 5_000, 15_000, warned=True)
    _fill_soon(engine, 20_000, 18_000, warned=False)
    large, sent_large = traced_peak(warner.run)  # 18,000 messages warned, 20,000 already warned read past
    assert (sent_small, sent_large) == (45, 180)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(expiry_warnings)).scalar() == 38_000
    # 4x the messages warned and 4x the warnings: holding them all took about 4x the memory; a page at a
    # time, the database layer's caches and not yet collected garbage vary by some tens of KB
    assert large < small * 1.5, (small, large)
    engine.dispose()
