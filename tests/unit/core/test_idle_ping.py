"""A pooled PostgreSQL connection is tested before use only after sitting idle in the pool."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from voicemail.db.engine import make_engine
from voicemail.db.idle_ping import ping_when_idle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pooled(url: str, clock: Clock, after: float = 1.0) -> Engine:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, after, clock)
    return engine


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(url: str, pid: int) -> None:
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()


def test_a_connection_idle_past_the_limit_that_died_is_replaced_before_use(pg_url: str) -> None:
    clock = Clock()
    engine = pooled(pg_url, clock)
    try:
        dead = backend_pid(engine)
        terminate(pg_url, dead)
        clock.now += 1.5
        assert backend_pid(engine) != dead  # the test found it dead: a new connection, no error
    finally:
        engine.dispose()


def test_a_connection_returned_moments_ago_is_used_without_a_test_round_trip(pg_url: str) -> None:
    clock = Clock()
    engine = pooled(pg_url, clock)
    try:
        dead = backend_pid(engine)
        terminate(pg_url, dead)
        clock.now += 0.5
        # not tested: the first statement meets the dead connection (the caller's retry gets a new one)
        with pytest.raises(OperationalError):
            backend_pid(engine)
        assert backend_pid(engine) != dead
    finally:
        engine.dispose()


def test_a_tested_connection_is_not_left_inside_a_transaction(pg_url: str) -> None:
    clock = Clock()
    engine = pooled(pg_url, clock, after=0.0)  # test at every checkout
    admin = make_engine(pg_url)
    try:
        pid = backend_pid(engine)
        with engine.connect():  # checked out and tested, nothing run yet
            with admin.connect() as conn:
                state = conn.execute(text("SELECT state FROM pg_stat_activity WHERE pid = :pid"),
                                     {"pid": pid}).scalar_one()
        assert state == "idle"  # not "idle in transaction" (a snapshot held, vacuum held back)
    finally:
        engine.dispose()
        admin.dispose()


def test_the_service_engine_tests_idle_connections(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        dead = backend_pid(engine)
        terminate(pg_url, dead)
        pool = engine.pool
        record = pool._pool.queue[0]  # type: ignore[attr-defined]
        record.info["voicemail_returned_at"] -= 60  # as if it had sat idle for a minute
        assert backend_pid(engine) != dead
    finally:
        engine.dispose()
