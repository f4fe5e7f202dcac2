"""The database figures behind /metrics and the operations page, on rows with known times (SQLite,
migrated like production): ages, windows, dead letters, late notifications, vault bytes, checkpoints."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from voicemail.audit.tables import audit_checkpoints
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.db.models import DeadLetterRow, MessageRow, NotificationRow, RecordingRow
from voicemail.observe.hourly import last_day, quantile
from voicemail.observe.snapshot import read_snapshot

NOW = dt.datetime(2026, 12, 4, 12, 30, tzinfo=dt.UTC)


def ago(**kw: float) -> dt.datetime:
    return NOW - dt.timedelta(**kw)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(e)
    yield e
    e.dispose()


def message(engine: Engine, state: str, discovered: dt.datetime, sealed: dt.datetime | None = None,
            updated: dt.datetime | None = None, size: int = 0, sent: dt.datetime | None = None,
            note_state: str = "sent") -> str:
    mid = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(insert(MessageRow), [{
            "id": mid, "context": "default", "mailbox": "1001", "msg_id": f"{int(discovered.timestamp())}-{mid[:8]}",
            "state": state, "origtime": int(discovered.timestamp()), "discovered_at": discovered,
            "sealed_at": sealed, "stripped_at": sealed if state in ("stripped", "destroyed") else None,
            "updated_at": updated or sealed or discovered}])
        if size:
            conn.execute(insert(RecordingRow), [{"message_id": mid, "fmt": "wav", "blob_name": mid, "sha256": "0" * 64,
                                                 "size": size}])
        if sealed is not None and state in ("stripped", "destroyed"):
            conn.execute(insert(NotificationRow), [{
                "id": str(uuid.uuid4()), "message_id": mid, "state": note_state if sent or note_state != "sent"
                else "pending", "sent_at": sent, "created_at": sealed, "updated_at": sent or sealed}])
    return mid


def test_counters_states_and_oldest_pending(engine: Engine) -> None:
    message(engine, "stripped", ago(hours=3), ago(hours=3), size=100, sent=ago(hours=3))
    message(engine, "destroyed", ago(days=40), ago(days=40), sent=ago(days=40))  # a tombstone: still counted
    message(engine, "discovered", ago(minutes=12))
    message(engine, "discovered", ago(minutes=2))
    message(engine, "sealed", ago(minutes=5), ago(minutes=4), size=50)
    message(engine, "vanished", ago(hours=1))
    snap = read_snapshot(engine, now=NOW, window=3600)
    assert snap.discovered_total == 6 and snap.sealed_total == 3 and snap.stripped_total == 2
    assert snap.messages_by_state == {"stripped": 1, "destroyed": 1, "discovered": 2, "sealed": 1, "vanished": 1}
    assert snap.custody_pending == 3 and snap.oldest_custody_seconds == pytest.approx(12 * 60)
    assert snap.vault_bytes == 150  # recordings on record (the tombstone's were removed)
    assert snap.notifications_by_state == {"sent": 2}


def test_latency_window_counts_only_recent_messages_and_late_notifications(engine: Engine) -> None:
    message(engine, "stripped", ago(hours=5), ago(hours=5), sent=ago(hours=5))  # outside the window
    message(engine, "stripped", ago(minutes=30), ago(minutes=29, seconds=50), sent=ago(minutes=29))
    # sealed and stripped two hours ago, its notification sent only now (retries): counted for notify
    message(engine, "stripped", ago(hours=2), ago(hours=2) + dt.timedelta(seconds=4), updated=ago(hours=2),
            sent=ago(minutes=1))
    window = read_snapshot(engine, now=NOW, window=3600).window
    assert window.seal == pytest.approx((10.0,))
    assert sorted(window.total) == [pytest.approx(60.0), pytest.approx(7140.0)]
    assert sorted(window.notify) == [pytest.approx(50.0), pytest.approx(7136.0)]


def test_dead_letters_open_and_resolved_and_parked_notifications(engine: Engine) -> None:
    parked = message(engine, "stripped", ago(hours=1), ago(hours=1), note_state="sending")
    message(engine, "stripped", ago(hours=1), ago(hours=1), note_state="failed")
    with engine.begin() as conn:
        note_id = conn.exec_driver_sql("SELECT id FROM notifications WHERE message_id = ?", (parked,)).scalar_one()
        for task, ref, resolved in (("workers.tasks.send_notification", note_id, None),
                                    ("workers.tasks.seal_message", "m1", None),
                                    ("workers.tasks.seal_message", "m2", NOW)):
            conn.execute(insert(DeadLetterRow).values(task=task, ref_id=ref, error="E", attempts=1,
                                                      resolved_at=resolved))
    snap = read_snapshot(engine, now=NOW, window=3600)
    assert snap.dead_letters_open == {"workers.tasks.send_notification": 1, "workers.tasks.seal_message": 1}
    assert snap.dead_letters_total == {"workers.tasks.send_notification": 1, "workers.tasks.seal_message": 2}
    assert snap.notifications_failed == 2  # one failed, one parked while "sending"
    assert snap.notify_pending == 1 and snap.oldest_notify_seconds == pytest.approx(3600)


def test_checkpoint_age_from_the_newest_checkpoint(engine: Engine) -> None:
    assert read_snapshot(engine, now=NOW, window=60).checkpoint_age is None
    with engine.begin() as conn:
        for seq, at in ((1, ago(hours=5)), (2, ago(minutes=20))):
            conn.execute(insert(audit_checkpoints), [{"seq": seq, "head_hash": "h", "at": at.isoformat(),
                                                      "key_id": "k", "signature": "s", "kind": "periodic"}])
    assert read_snapshot(engine, now=NOW, window=60).checkpoint_age == pytest.approx(20 * 60)


def test_last_day_hours_and_quantiles(engine: Engine) -> None:
    for seconds in (2, 4, 6, 100):  # four messages this hour
        start = NOW.replace(minute=5)
        message(engine, "stripped", start, start + dt.timedelta(seconds=1), sent=start + dt.timedelta(seconds=seconds))
    message(engine, "stripped", ago(hours=3), ago(hours=3), sent=ago(hours=3) + dt.timedelta(seconds=8))
    message(engine, "stripped", ago(hours=30), ago(hours=30), sent=ago(hours=30))  # older than a day
    hours = last_day(engine, NOW)
    assert len(hours) == 24 and hours[-1].start == NOW.replace(minute=0)
    assert [h.messages for h in hours][-4:] == [1, 0, 0, 4] and sum(h.messages for h in hours) == 5
    assert hours[-1].notified == 4 and hours[-1].p50 == pytest.approx(4) and hours[-1].p95 == pytest.approx(100)
    assert hours[-4].p50 == pytest.approx(8)
    assert quantile([], 0.5) is None and quantile([3.0, 1.0, 2.0], 0.5) == 2.0
