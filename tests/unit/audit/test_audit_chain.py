"""The hash chain and its verification on a real SQLite database (migrated with Alembic)."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from voicemail.audit.chain import GENESIS, AuditEvent, replay
from voicemail.audit.checkpoint import read_shipped
from voicemail.audit.signing import SigningKey
from voicemail.audit.store import AuditLog
from voicemail.audit.tables import audit_head
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.domain.errors import KeyringError


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    e = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(e)
    return e


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return SigningKey.create(tmp_path / "keys" / "audit-signing.pem")


def fill(log: AuditLog, n: int) -> None:
    log.append_many([AuditEvent(actor=f"user{i % 3}", action="audio.play", source="host", message_id=f"m{i % 5}",
                                reason="test", details={"i": i}) for i in range(n)])


def raw(tmp_path: Path) -> sqlite3.Connection:
    """A connection that bypasses the application (as someone with the database file would)."""
    conn = sqlite3.connect(tmp_path / "vm.db", isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def test_events_get_consecutive_seqs_and_link_to_their_predecessor(engine: Engine) -> None:
    log = AuditLog(engine)
    first = log.append(AuditEvent(actor="alice", action="case.open", case_id="CI-1"))
    second = log.append(AuditEvent(actor="bob", action="hold.place", case_id="CI-1"))
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS and second.prev_hash == first.hash
    assert log.head().seq == 2 and log.head().hash == second.hash


def test_intact_chain_verifies_against_its_signed_checkpoint(engine: Engine, key: SigningKey,
                                                             tmp_path: Path) -> None:
    log = AuditLog(engine)
    fill(log, 50)
    shipped = tmp_path / "ship" / "checkpoints.jsonl"
    cp = log.checkpoint(key, ship_to=shipped)
    assert (cp.seq, read_shipped(shipped)[0].head_hash) == (50, cp.head_hash)
    report = log.verify(key.public, shipped)
    assert report.ok and report.result.checked == 50 and report.checkpoints == 2


def test_update_and_delete_are_refused_by_triggers(engine: Engine) -> None:
    fill(AuditLog(engine), 3)
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_events")


@pytest.mark.parametrize(("tamper", "first_bad"), [
    ("UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 17", 17),
    ("DELETE FROM audit_events WHERE seq = 23", 23),
    ("UPDATE audit_events SET seq = -1 WHERE seq = 30; UPDATE audit_events SET seq = 30 WHERE seq = 31;"
     "UPDATE audit_events SET seq = 31 WHERE seq = -1", 30),
    ("DELETE FROM audit_events WHERE seq > 44", 45),
    ("DELETE FROM audit_events", 1),
])
def test_tampering_is_found_at_the_exact_sequence(engine: Engine, key: SigningKey, tmp_path: Path,
                                                  tamper: str, first_bad: int) -> None:
    log = AuditLog(engine)
    fill(log, 60)
    log.checkpoint(key, ship_to=tmp_path / "cp.jsonl")
    raw(tmp_path).executescript(tamper)
    report = log.verify(key.public, tmp_path / "cp.jsonl")
    assert report.result.first_bad == first_bad, report.result.problem


def test_deleted_tail_with_rewritten_head_is_caught_by_the_shipped_checkpoint(engine: Engine, key: SigningKey,
                                                                              tmp_path: Path) -> None:
    log = AuditLog(engine)
    fill(log, 20)
    log.checkpoint(key, ship_to=tmp_path / "cp.jsonl")
    conn = raw(tmp_path)
    h12 = conn.execute("SELECT hash FROM audit_events WHERE seq = 12").fetchone()[0]
    conn.executescript("DELETE FROM audit_events WHERE seq > 12; DELETE FROM audit_checkpoints;")
    conn.execute("UPDATE audit_head SET seq = 12, hash = ?", (h12,))
    assert log.verify(key.public).ok  # the database alone is now self-consistent ...
    assert log.verify(key.public, tmp_path / "cp.jsonl").result.first_bad == 13  # ... the shipped copy is not


def test_forged_checkpoint_signature_is_reported(engine: Engine, key: SigningKey, tmp_path: Path) -> None:
    log = AuditLog(engine)
    fill(log, 5)
    log.checkpoint(key)
    raw(tmp_path).execute("UPDATE audit_checkpoints SET seq = 4")
    report = log.verify(key.public)
    assert not report.ok and report.bad_signatures == (4,)


def test_concurrent_appends_never_fork_the_chain(engine: Engine, key: SigningKey) -> None:
    log = AuditLog(engine)

    def work(n: int) -> None:
        for i in range(25):
            log.append(AuditEvent(actor=f"worker{n}", action="audio.play", details={"i": i}))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = log.verify(key.public)
    assert report.ok and report.result.checked == 100


def test_append_joins_the_callers_transaction_and_rolls_back_with_it(engine: Engine) -> None:
    log = AuditLog(engine)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        log.append(AuditEvent(actor="a", action="role.grant"), conn)
        raise RuntimeError("the act failed")
    assert log.head().seq == 0 and log.events() == []


def test_show_filters_by_message_case_and_actor(engine: Engine) -> None:
    log = AuditLog(engine)
    fill(log, 15)
    log.append(AuditEvent(actor="ivy", action="case.open", case_id="CI-9"))
    assert [e.seq for e in log.events(message_id="m1")] == [2, 7, 12]
    assert [e.action for e in log.events(case_id="CI-9")] == ["case.open"]
    assert len(log.events(actor="user0")) == 5


def test_replay_accepts_a_chain_that_starts_after_a_sealed_epoch(engine: Engine) -> None:
    log = AuditLog(engine)
    fill(log, 10)
    events = log.events()
    start = replace(log.head(), seq=4, hash=events[3].hash)
    assert replay(events[4:], start=start).ok
    assert replay(events[5:], start=start).first_bad == 5


def test_epoch_base_without_a_signed_checkpoint_is_refused(engine: Engine, key: SigningKey) -> None:
    log = AuditLog(engine)
    fill(log, 10)
    with engine.begin() as conn:
        conn.execute(update(audit_head).values(base_seq=4, base_hash=log.events()[3].hash))
    assert log.verify(key.public).result.first_bad == 4


def test_signing_key_is_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    SigningKey.create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(KeyringError):
        SigningKey.create(path)
    path.chmod(0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        SigningKey.load(path)


def test_group_committed_appends_each_return_their_own_record(engine: Engine) -> None:
    log = AuditLog(engine)
    got: dict[int, int] = {}

    def work(n: int) -> None:
        for i in range(10):
            record = log.append(AuditEvent(actor=f"t{n}", action="audio.play", details={"i": i}))
            got[record.seq] = n

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 61))
    assert all(log.events()[seq - 1].actor == f"t{n}" for seq, n in got.items())


def test_a_failed_append_raises_to_its_caller_and_the_next_one_works(engine: Engine, tmp_path: Path) -> None:
    log = AuditLog(engine)
    with pytest.raises(ValueError, match="outcome"):
        log.append(AuditEvent(actor="a", action="x", outcome="maybe"))
    conn = raw(tmp_path)
    conn.execute("ALTER TABLE audit_events RENAME TO gone")
    with pytest.raises(Exception, match="audit_events"):
        log.append(AuditEvent(actor="a", action="x"))
    conn.execute("ALTER TABLE gone RENAME TO audit_events")
    assert log.append(AuditEvent(actor="a", action="x")).seq == 1


def test_retention_seals_an_epoch_then_removes_it_and_the_rest_still_verifies(engine: Engine, key: SigningKey,
                                                                             tmp_path: Path) -> None:
    days = iter(f"2026-01-{d:02d}T00:00:00.000000Z" for d in range(1, 32))
    log = AuditLog(engine, clock=lambda: next(days))
    for i in range(10):
        log.append(AuditEvent(actor="a", action="audio.play", details={"i": i}))
    assert log.seal_epoch(key, "2026-01-01T00:00:00Z") is None  # nothing expired
    cp = log.seal_epoch(key, "2026-01-05T00:00:00Z", ship_to=tmp_path / "cp.jsonl")
    assert cp is not None and (cp.seq, cp.kind) == (4, "epoch-seal")
    assert [e.seq for e in log.events()] == [5, 6, 7, 8, 9, 10]
    assert log.verify(key.public, tmp_path / "cp.jsonl").ok
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_events WHERE seq = 5")  # not sealed: still refused
    raw(tmp_path).execute("DELETE FROM audit_events WHERE seq = 5")
    assert log.verify(key.public).result.first_bad == 5
