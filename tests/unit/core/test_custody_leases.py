"""Leases and run counts in the custody store, on SQLite and on the real local PostgreSQL: a notification
has one holder at a time and only the newest claim may commit its send; a custody run is counted before
its work starts, only the newest run may commit its seal, and too many runs that died in a row park it."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tests.unit.core.test_repository import spool_message, store  # noqa: F401 (the fixture)
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.errors import CrashLoop
from voicemail.domain.models import Caller, SealedRecording, WrappedKey


def stripped(store: SqlMessageStore) -> str:  # noqa: F811
    mid, _ = store.record_discovered(spool_message(), Caller.external(), b"txt")
    store.mark_sealed(mid, WrappedKey("k1", b"w"), [SealedRecording("wav", f"{mid}.wav.aa", "ab" * 32, 10)])
    return store.mark_stripped(mid)


def test_a_live_lease_keeps_every_other_worker_out(store: SqlMessageStore) -> None:  # noqa: F811
    nid = stripped(store)
    mine = store.claim_notification(nid, lease_seconds=60)
    assert mine is not None and mine.state == "sending" and mine.token == 1
    other = store.claim_notification(nid, lease_seconds=60)
    assert other is not None and other.state == "busy"  # a re-delivered task while the send is under way
    assert store.stuck(0.0) == []  # the sweeper leaves a live lease alone, however old the row


def test_an_overtaken_sender_cannot_renew_and_its_late_commit_is_reported(store: SqlMessageStore) -> None:  # noqa: F811
    nid = stripped(store)
    paused = store.claim_notification(nid, lease_seconds=0.2)
    assert paused is not None
    time.sleep(0.3)  # the lease runs out while its holder is frozen
    assert [w.id for w in store.stuck(60.0)] == [nid]  # the sweeper now re-enqueues it
    newer = store.claim_notification(nid, lease_seconds=60)
    assert newer is not None and newer.state == "sending" and newer.token == paused.token + 1
    assert store.renew_lease(nid, paused.token, 60) is False  # the frozen one wakes up: it must not send
    assert store.renew_lease(nid, newer.token, 60) is True
    assert store.mark_notification_sent(nid, "carol@example.test", newer.token) is True
    assert store.mark_notification_sent(nid, "carol@example.test", paused.token) is False


def test_a_released_lease_lets_the_retry_claim_at_once(store: SqlMessageStore) -> None:  # noqa: F811
    nid = stripped(store)
    first = store.claim_notification(nid, lease_seconds=60)
    assert first is not None
    store.release_lease(nid, first.token)  # a transient failure in its own hands
    again = store.claim_notification(nid, lease_seconds=60)
    assert again is not None and again.state == "sending" and again.token == first.token + 1


def test_custody_runs_that_die_are_counted_and_park_the_message(store: SqlMessageStore) -> None:  # noqa: F811
    mid, _ = store.record_discovered(spool_message(), Caller.external(), b"txt")
    finished = store.begin_custody(mid, 3)
    store.end_custody(mid)  # a run that ended in its own hands does not count
    runs = [store.begin_custody(mid, 3) for _ in range(3)]  # three runs whose worker died
    assert finished.deliveries == 1 and [r.deliveries for r in runs] == [1, 2, 3]
    with pytest.raises(CrashLoop, match="3 custody run"):
        store.begin_custody(mid, 3)
    record = store.get(mid)
    assert record.state == "discovered" and record.attempts == 2  # each run found its predecessor dead
    rec = SealedRecording("wav", f"{mid}.wav.{runs[1].attempt}", "ab" * 32, 10)
    assert store.mark_sealed(mid, WrappedKey("k1", b"w"), [rec], runs[1].attempt) is False  # not the newest
    assert store.requeue_message(mid, due_now=True) == "discovered"  # by hand: the count starts again
    run = store.begin_custody(mid, 3)
    assert run.deliveries == 1
    rec = SealedRecording("wav", f"{mid}.wav.{run.attempt}", "ab" * 32, 10)
    assert store.mark_sealed(mid, WrappedKey("k1", b"w"), [rec], run.attempt) is True


def test_a_scheduled_retry_keeps_the_sweeper_away_until_it_is_overdue(store: SqlMessageStore) -> None:  # noqa: F811
    mid, _ = store.record_discovered(spool_message(), Caller.external(), b"txt")
    store.note_failure(mid, "OSError: [Errno 28] No space left on device", retry_in=0.5)
    time.sleep(0.2)
    assert store.stuck(0.1) == []  # its retry is still ahead
    time.sleep(0.5)
    assert [w.id for w in store.stuck(0.1)] == [mid]  # overdue by stale_after: the retry was lost
    assert store.discovered_at(mid) <= dt.datetime.now(dt.UTC)
