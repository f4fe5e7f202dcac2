"""The audit trail on a real PostgreSQL: triggers, the application role's privileges, tampering by a
superuser, and concurrent appends from several connections."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, exc
from sqlalchemy.engine import Engine

from voicemail.audit.chain import AuditEvent
from voicemail.audit.hardening import app_role_sql
from voicemail.audit.signing import SigningKey
from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    e = make_engine(pg_url)
    upgrade(e)
    yield e
    e.dispose()


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return SigningKey.create(tmp_path / "audit.pem")


def fill(log: AuditLog, n: int) -> None:
    log.append_many([AuditEvent(actor="inv", action="evidence.export", message_id=f"m{i}", details={"i": i})
                     for i in range(n)])


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET actor = 'x' WHERE seq = 2",
    "DELETE FROM audit_events WHERE seq = 2",
    "TRUNCATE audit_events",
    "TRUNCATE audit_checkpoints",
])
def test_owner_is_refused_by_triggers(engine: Engine, statement: str) -> None:
    fill(AuditLog(engine), 3)
    with pytest.raises(exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql(statement)


def test_app_role_may_only_insert(engine: Engine, pg_url: str) -> None:
    role = f"vm_app_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        for sql in app_role_sql(role):
            conn.exec_driver_sql(sql)
    app = create_engine(pg_url.replace("postgres@", f"{role}@"))
    try:
        log = AuditLog(app)
        fill(log, 3)  # inserting works for the app role
        for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events",
                          "TRUNCATE audit_events", "ALTER TABLE audit_events DISABLE TRIGGER USER"):
            with pytest.raises(exc.ProgrammingError, match=r"permission denied|must be owner"), app.begin() as conn:
                conn.exec_driver_sql(statement)
        assert log.head().seq == 3
    finally:
        app.dispose()
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")


@pytest.mark.parametrize(("tamper", "first_bad"), [
    ("UPDATE audit_events SET outcome = 'denied' WHERE seq = 11", 11),
    ("DELETE FROM audit_events WHERE seq = 7", 7),
    ("UPDATE audit_events SET seq = -1 WHERE seq = 20; UPDATE audit_events SET seq = 20 WHERE seq = 21;"
     "UPDATE audit_events SET seq = 21 WHERE seq = -1", 20),
    ("DELETE FROM audit_events WHERE seq > 33", 34),
    ("TRUNCATE audit_events", 1),
])
def test_superuser_tampering_is_found_at_the_exact_sequence(engine: Engine, key: SigningKey, tmp_path: Path,
                                                            tamper: str, first_bad: int) -> None:
    log = AuditLog(engine)
    fill(log, 40)
    log.checkpoint(key, ship_to=tmp_path / "cp.jsonl")
    with engine.begin() as conn:  # a superuser can switch the triggers off
        conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        for statement in tamper.split(";"):
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
    report = log.verify(key.public, tmp_path / "cp.jsonl")
    assert report.result.first_bad == first_bad, report.result.problem


def test_concurrent_appends_on_several_connections_keep_one_chain(engine: Engine, key: SigningKey) -> None:
    log = AuditLog(engine)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(40):
                log.append(AuditEvent(actor=f"w{n}", action="audio.play", details={"i": i}))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = log.verify(key.public)
    assert report.ok and report.result.checked == 320
