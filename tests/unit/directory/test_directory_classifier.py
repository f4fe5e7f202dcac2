"""The decision, table-driven: internal <=> internal context AND the normalised number belongs to an enabled
directory user; everything else external, with a verdict counter and a log line without caller data."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicemail.db.directory_store import SqlDirectoryStore
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.migrate import upgrade
from voicemail.directory import Classifier, CsvDirectory, Verdict, decide
from voicemail.directory.db_directory import DbDirectory
from voicemail.directory.plan import NumberPlan
from voicemail.directory.records import DirectoryUser
from voicemail.domain.models import Caller, CallerKind, DirectoryEntry, Envelope

PLAN = NumberPlan.from_strings("US", ("4",), ("+12025551000-+12025551999=1000",))
INTERNAL = frozenset({"vm-internal", "phones"})


def envelope(context: str, callerid: str) -> Envelope:
    return Envelope(msg_id="1795978545-0000002a", origmailbox="2001", context=context, exten="2001",
                    callerid=callerid, origtime=1795978545, duration=7)


@pytest.fixture
def db_directory(tmp_path: Path) -> Iterator[DbDirectory]:
    engine = make_engine(f"sqlite:///{tmp_path / 'dir.db'}")
    upgrade(engine)
    store = SqlDirectoryStore(make_sessionmaker(engine))
    now = dt.datetime.now(dt.UTC)
    run = store.begin_run(600, now=now)
    store.apply_users([
        DirectoryUser("g1", "cn=alice", account="alice", name="Alice Adams", email="alice@agency.example",
                      numbers=(("phone", "(202) 555-1001"), ("ip_phone", "1001"), ("mobile", "+1 301 555 0101"))),
        DirectoryUser("g2", "cn=bob", account="bob", name="Bob Brown", numbers=(("ip_phone", "1002"),),
                      enabled=False),
        DirectoryUser("g3", "cn=carol", account="carol", name="Carol", numbers=(("phone", "1500"),)),
        DirectoryUser("g4", "cn=dave", account="dave", name="Dave", numbers=(("phone", "+1 202 555 1500"),)),
        DirectoryUser("g5", "cn=noname", account="noname", name="", numbers=(("ip_phone", "1005"),)),
    ], run, PLAN.key, now=now)
    store.finish_run(run, full=True, high_water="", source_key="", server_id="", plan_fingerprint=PLAN.fingerprint(),
                     now=now)
    yield DbDirectory(store, PLAN, max_age=3600.0)
    engine.dispose()


ALICE = Caller(CallerKind.INTERNAL, "Alice Adams", "1001")

CASES = [
    # context,       caller id as Asterisk writes it,          expected,  verdict
    ("vm-internal", '"Alice Adams" <1001>', ALICE, Verdict.INTERNAL),
    ("phones", "<1001>", ALICE, Verdict.INTERNAL),
    ("vm-internal", "1001", ALICE, Verdict.INTERNAL),
    ("vm-internal", '"CEO - urgent" <+1 202 555 1001>', ALICE, Verdict.INTERNAL),  # directory name, not the caller's
    ("vm-internal", "<2025551001>", ALICE, Verdict.INTERNAL),
    ("vm-internal", "<12025551001>", ALICE, Verdict.INTERNAL),
    ("vm-internal", "<+13015550101>", Caller(CallerKind.INTERNAL, "Alice Adams", "+13015550101"), Verdict.INTERNAL),
    ("from-trunk", '"Alice Adams" <1001>', None, Verdict.UNTRUSTED_CONTEXT),  # spoofed extension
    ("from-trunk", "<+12025551001>", None, Verdict.UNTRUSTED_CONTEXT),  # spoofed DID
    ("vm-internal-evil", "<1001>", None, Verdict.UNTRUSTED_CONTEXT),  # contexts match exactly
    ("VM-INTERNAL", "<1001>", None, Verdict.UNTRUSTED_CONTEXT),
    ("vm-internal", "<1002>", None, Verdict.UNKNOWN_NUMBER),  # disabled account
    ("vm-internal", "<1500>", None, Verdict.UNKNOWN_NUMBER),  # two users claim it: ambiguous
    ("vm-internal", "<1005>", None, Verdict.UNKNOWN_NUMBER),  # a user without a display name
    ("vm-internal", "<1999>", None, Verdict.UNKNOWN_NUMBER),
    ("vm-internal", "<+442079460000>", None, Verdict.UNKNOWN_NUMBER),
    ("vm-internal", "<+1001>", None, Verdict.UNKNOWN_NUMBER),
    ("vm-internal", "Anonymous <anonymous>", None, Verdict.NO_NUMBER),
    ("vm-internal", "Unknown", None, Verdict.NO_NUMBER),
    ("vm-internal", "", None, Verdict.NO_NUMBER),
    ("vm-internal", '"Alice Adams"', None, Verdict.NO_NUMBER),  # a name alone proves nothing
    ("vm-internal", "<withheld>", None, Verdict.NO_NUMBER),
    ("vm-internal", "<sip:1001@attacker.example>", None, Verdict.NO_NUMBER),
    ("vm-internal", "<1001;user=phone>", None, Verdict.NO_NUMBER),
    ("vm-internal", '"x" <1001\r\nBcc: victim@example.test>', None, Verdict.NO_NUMBER),
]


@pytest.mark.parametrize(("context", "callerid", "expected", "verdict"), CASES)
def test_the_decision(db_directory: DbDirectory, context: str, callerid: str, expected: Caller | None,
                      verdict: Verdict) -> None:
    caller, why = decide(envelope(context, callerid), INTERNAL, db_directory)

    assert caller == (expected or Caller.external())
    assert why is verdict


def test_every_verdict_is_counted_and_external_ones_are_logged_without_caller_data(
        db_directory: DbDirectory, caplog: pytest.LogCaptureFixture) -> None:
    classifier = Classifier(INTERNAL, db_directory)

    with caplog.at_level(logging.DEBUG):
        for context, callerid, _expected, _verdict in CASES:
            classifier(envelope(context, callerid))

    expected_counts = {v.value: sum(1 for case in CASES if case[3] is v) for v in Verdict}
    assert classifier.counters.snapshot() == expected_counts
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == len(CASES) - expected_counts["internal"]
    assert all("1795978545-0000002a" in line for line in logged)
    for secret in ("1001", "Alice", "555", "anonymous", "attacker", "victim", "CEO"):
        assert not any(secret in line for line in logged), secret
    # one line per message only at DEBUG (an import of a whole spool would log every message); an
    # unavailable directory is a WARNING
    unavailable = expected_counts[Verdict.DIRECTORY_UNAVAILABLE.value]
    assert sum(r.levelno >= logging.INFO for r in caplog.records) == unavailable


class BrokenDirectory:
    def lookup(self, number: str) -> DirectoryEntry | None:
        raise RuntimeError(f"database error while looking up {number}")  # a driver error may quote parameters


def test_a_failing_directory_fails_closed_and_the_log_never_quotes_its_error(caplog: pytest.LogCaptureFixture) -> None:
    classifier = Classifier(INTERNAL, BrokenDirectory())

    with caplog.at_level(logging.INFO):
        caller = classifier(envelope("vm-internal", '"Alice Adams" <1001>'))

    assert caller == Caller.external()
    assert classifier.counters.snapshot()["directory_unavailable"] == 1
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "1001" not in caplog.text and "Alice" not in caplog.text


def test_a_stale_synced_directory_fails_closed(db_directory: DbDirectory) -> None:
    later = DbDirectory(db_directory._store, PLAN, max_age=3600.0,
                        clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    caller, verdict = decide(envelope("vm-internal", "<1001>"), INTERNAL, later)
    assert (caller, verdict) == (Caller.external(), Verdict.DIRECTORY_UNAVAILABLE)


def test_the_csv_directory_uses_the_same_plan(tmp_path: Path) -> None:
    path = tmp_path / "directory.csv"
    path.write_text("number,name,email\n(202) 555-1001,Alice Adams,alice@agency.example\n", encoding="utf-8")
    csv = CsvDirectory(path, plan=PLAN)

    for callerid in ("<1001>", "<+1 202 555 1001>", "<202-555-1001>"):
        assert decide(envelope("vm-internal", callerid), INTERNAL, csv) == (ALICE, Verdict.INTERNAL)
    assert decide(envelope("from-trunk", "<1001>"), INTERNAL, csv)[1] is Verdict.UNTRUSTED_CONTEXT
