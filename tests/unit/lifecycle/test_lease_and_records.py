"""The retention lease (one run at a time, a killed holder does not block) and signed destruction
records (verifiable offline; any edit or another key is named)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from voicemail.audit.signing import SigningKey
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.lifecycle.lease import Lease, LeaseBusy, leased
from voicemail.lifecycle.records import load_record, sign_record, store_record, verify_record
from voicemail.lifecycle.tables import lifecycle_leases


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def test_a_second_run_is_refused_while_the_first_holds_the_lease(engine: Engine) -> None:
    with leased(engine, "retention"), pytest.raises(LeaseBusy, match="another process"):
        Lease(engine, "retention").take()
    with leased(engine, "retention"):  # released afterwards
        pass


def test_an_expired_lease_or_a_dead_holder_does_not_block(engine: Engine) -> None:
    first = Lease(engine, "retention", ttl=600)
    first.take()
    with engine.begin() as conn:
        conn.execute(update(lifecycle_leases).values(expires_at=0))
    assert Lease(engine, "retention").try_take()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    with engine.begin() as conn:  # a holder on this host whose process is gone (kill -9)
        conn.execute(update(lifecycle_leases).values(holder=f"{socket.gethostname()}:{dead.stdout.strip()}:x",
                                                     expires_at=9e12))
    assert Lease(engine, "retention").try_take()


def body() -> dict[str, object]:
    return {"id": "r-1", "created_at": "2030-01-01T00:00:00.000000Z",
            "classes": [{"class": "messages.old", "count": 2, "ids": ["a", "b"], "keys_destroyed": []}],
            "totals": {"destroyed": 2, "held_skipped": 1, "failed": 0}}


def test_a_destruction_record_verifies_and_any_edit_is_named(tmp_path: Path, engine: Engine) -> None:
    key = SigningKey.create(tmp_path / "sign.pem")
    path = store_record(engine, sign_record(key, body()), tmp_path / "records")
    assert path is not None and path.stat().st_mode & 0o077 == 0
    doc = load_record(None, str(path))
    assert verify_record(doc, key.public) == []
    assert verify_record(load_record(engine, "r-1"), key.public) == []  # the database copy too
    doc["record"]["classes"][0]["ids"] = ["a"]
    problems = verify_record(doc, key.public)
    assert any("signature does not verify" in p for p in problems)
    assert any("count 2 but 1 ids" in p for p in problems)
    other = SigningKey.create(tmp_path / "other.pem")
    assert any("not by the given public key" in p for p in verify_record(json.loads(path.read_text()), other.public))
