"""Phone PINs: the policy, the voicemail.conf import, argon2id storage and the lockout across calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.domain.errors import InvalidInput
from voicemail.domain.models import MailboxRef
from voicemail.phone.pin_policy import refusal
from voicemail.phone.pin_store import SqlPinStore
from voicemail.phone.tables import phone_pins
from voicemail.phone.voicemail_conf import read_pins
from voicemail.services.phone_pins import Argon2PinHasher, PinService

ALICE = MailboxRef("default", "1001")
CHEAP = Argon2PinHasher(time_cost=1, memory_cost=1024, parallelism=1)  # still argon2id, just fast for tests

LAB_CONF = """; Lab voicemail configuration
[general]
format = wav
[zonemessages]
eastern=America/New_York|'vm-received' Q 'digits/at' IMp
[default]
; mailbox => password,full name,email,pager email,options
1001 => 4242,Alice Internal,alice@example.test
1002 => 4242,Bob Internal
2001 => -583920,Carol
3001 => secret,Dave
../x => 1234,Eve
[other-ctx]
7000 = 123456,Frank
"""


@pytest.mark.parametrize(("pin", "why"), [
    ("1111111", "one digit repeated"), ("123456", "ascending"), ("987654", "descending"), ("890123", "ascending"),
    ("100100", None), ("12a456", "digits only"), ("12345", "at least 6"), ("583920", None),
])
def test_trivial_and_short_pins_are_refused(pin: str, why: str | None) -> None:
    result = refusal(pin, "1001", 6)
    assert (result is None) == (why is None) and (why is None or why in (result or ""))


def test_the_extension_itself_is_refused() -> None:
    assert "mailbox number" in (refusal("4001002", "4001002", 6) or "")
    assert "mailbox number" in (refusal("2001004", "4001002", 6) or "")


def test_voicemail_conf_pins_are_read_from_context_sections_only() -> None:
    pins, problems = read_pins(LAB_CONF)
    assert [(str(p.mailbox), p.pin) for p in pins] == [
        ("1001@default", "4242"), ("1002@default", "4242"), ("2001@default", "583920"), ("7000@other-ctx", "123456")]
    assert [p.line for p in problems] == [11, 12]  # 3001 (not digits), ../x (not a mailbox name)
    assert not any("secret" in p.why or "1234" in p.why for p in problems)  # never the password


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'pins.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = 1_796_366_227.0

    def __call__(self) -> float:
        return self.now


def service(engine: Engine, clock: Clock | None = None) -> PinService:
    return PinService(SqlPinStore(engine), CHEAP, AuditLog(engine), min_length=6, max_failures=3,
                      lockout_seconds=600, clock=clock or Clock())


def events(engine: Engine) -> list[tuple[str, str, dict[str, object]]]:
    return [(e.action, e.outcome, json.loads(e.details)) for e in AuditLog(engine).iter_all()]


def test_import_stores_only_argon2id_hashes_and_reports_weak_pins(engine: Engine) -> None:
    report = service(engine).import_conf(LAB_CONF, actor="root", source="cli@test")
    assert len(report.imported) == 4
    assert {str(r): why for r, why in report.weak} == {
        "1001@default": "shorter than 6 digits", "1002@default": "shorter than 6 digits",
        "7000@other-ctx": "ascending digits"}
    with engine.connect() as conn:
        hashes = [row.pin_hash for row in conn.execute(select(phone_pins.c.pin_hash))]
    assert all(h.startswith("$argon2id$") and "4242" not in h for h in hashes)
    [(action, outcome, details)] = events(engine)
    assert (action, outcome, details["imported"]) == ("phone.pin.import", "ok", 4)


def test_wrong_pins_across_calls_lock_the_mailbox_even_against_the_right_pin(engine: Engine) -> None:
    clock = Clock()
    pins = service(engine, clock)
    pins.set_pin(ALICE, "583920", actor="root", source="cli@test")
    assert [pins.verify(ALICE, "000000", source=f"phone call-{n}") for n in range(3)] == ["wrong"] * 3
    assert pins.verify(ALICE, "583920", source="phone call-4") == "locked"
    clock.now += 601
    assert pins.verify(ALICE, "583920", source="phone call-5") == "ok"
    actions = [(a, o, d.get("result")) for a, o, d in events(engine)]
    assert actions == [("phone.pin.set", "ok", None)] + [("phone.signin", "denied", "wrong PIN")] * 3 + [
        ("phone.lockout", "denied", None), ("phone.signin", "denied", "locked"), ("phone.signin", "ok", None)]
    assert not any("583920" in json.dumps(d) or "000000" in json.dumps(d) for _a, _o, d in events(engine))


def test_an_administrator_unlocks_and_the_count_starts_again(engine: Engine) -> None:
    pins = service(engine)
    pins.set_pin(ALICE, "583920", actor="root", source="cli@test")
    for _ in range(3):
        pins.verify(ALICE, "000000", source="phone x")
    assert pins.verify(ALICE, "583920", source="phone y") == "locked"
    assert pins.unlock(ALICE, actor="root", source="cli@test")
    assert pins.verify(ALICE, "583920", source="phone z") == "ok"
    assert not pins.unlock(MailboxRef("default", "4444"), actor="root", source="cli@test")


def test_unknown_mailbox_is_refused_and_audited(engine: Engine) -> None:
    pins = service(engine)
    assert pins.verify(MailboxRef("default", "9999"), "4242", source="phone x") == "unknown"
    assert pins.verify(None, "4242", source="phone x") == "unknown"
    assert [(a, o, d["result"]) for a, o, d in events(engine)] == [("phone.signin", "denied", "unknown mailbox")] * 2


def test_a_refused_pin_changes_nothing(engine: Engine) -> None:
    pins = service(engine)
    pins.set_pin(ALICE, "583920", actor="root", source="cli@test")
    with pytest.raises(InvalidInput, match="too easy"):
        pins.set_pin(ALICE, "123456", actor="root", source="cli@test")
    assert pins.verify(ALICE, "583920", source="phone x") == "ok"


def guess_at_once(pins: PinService, calls: int, pin: str) -> list[str]:
    import threading

    barrier = threading.Barrier(calls)
    results: list[str] = []

    def one() -> None:
        barrier.wait(5)
        results.append(pins.verify(ALICE, pin, source="phone parallel"))

    threads = [threading.Thread(target=one) for _ in range(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_guesses_on_many_calls_at_once_never_exceed_the_limit(engine: Engine) -> None:
    pins = service(engine)  # 3 failures lock
    pins.set_pin(ALICE, "583920", actor="root", source="cli@test")
    results = guess_at_once(pins, 8, "000000")
    assert sorted(results) == ["locked"] * 5 + ["wrong"] * 3
    assert guess_at_once(pins, 4, "583920") == ["locked"] * 4  # the right PIN cannot pass the lock either
    assert [a for a, _o, _d in events(engine)].count("phone.lockout") == 1


def test_guesses_at_once_on_postgresql(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        upgrade(engine)
        pins = service(engine)
        pins.set_pin(ALICE, "583920", actor="root", source="cli@test")
        assert sorted(guess_at_once(pins, 8, "000000")) == ["locked"] * 5 + ["wrong"] * 3
    finally:
        engine.dispose()
