"""With several sites the per-message metrics and the listener's carry a ``site`` label (every configured
site, zeros for one without messages), and per-site figures add up to the single-site ones; with one site
the exposition has no site label at all (existing dashboards and queries keep working)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from tests.unit.observe.test_alert_rules import ListenerState
from tests.unit.observe.test_snapshot import NOW, ago, message
from voicemail.config import load_settings
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.db.models import DeadLetterRow, MessageRow, NotificationRow, PendingMoveRow
from voicemail.observe.collector import BrokerCache, ObserveSettings, SnapshotCache, build_registry
from voicemail.observe.observer import observe_settings
from voicemail.observe.snapshot import read_snapshot


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(e)
    message(e, "stripped", ago(hours=2), ago(hours=2), sent=ago(hours=2))  # default: notified
    message(e, "discovered", ago(minutes=12))  # default: waiting 12 minutes for custody
    branch = [message(e, "stripped", ago(minutes=30), ago(minutes=29), sent=ago(minutes=20)),
              message(e, "discovered", ago(minutes=3))]
    with e.begin() as conn:
        conn.execute(update(MessageRow).where(MessageRow.id.in_(branch)).values(site="branch"))
    yield e
    e.dispose()


def exposition(engine: Engine, settings: ObserveSettings) -> str:
    snapshots = SnapshotCache(engine, settings, clock=lambda: NOW)
    return generate_latest(build_registry(snapshots, BrokerCache(settings), settings, ListenerState())).decode()


def sample(text: str, line: str) -> float:
    found = re.search("^" + re.escape(line) + r" (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{line} not exported"
    return float(found.group(1))


def test_several_sites_label_each_sites_messages_and_listener(engine: Engine) -> None:
    text = exposition(engine, ObserveSettings(cache_seconds=0, sites=("default", "branch", "lab"),
                                              served_site="branch"))
    assert sample(text, 'voicemail_messages{site="default",state="discovered"}') == 1
    assert sample(text, 'voicemail_messages{site="branch",state="stripped"}') == 1
    assert sample(text, 'voicemail_messages_discovered_total{site="branch"}') == 2
    assert sample(text, 'voicemail_messages_discovered_total{site="lab"}') == 0  # configured, no messages yet
    assert sample(text, 'voicemail_notifications_sent_total{site="default"}') == 1
    assert sample(text, 'voicemail_oldest_pending_seconds{queue="custody",site="default"}') == 12 * 60
    assert sample(text, 'voicemail_oldest_pending_seconds{queue="custody",site="branch"}') == 3 * 60
    assert sample(text, 'voicemail_custody_total_seconds_gcount{site="branch"}') == 1
    assert sample(text, 'voicemail_custody_total_seconds_gcount{site="default"}') == 0  # outside the window
    assert sample(text, 'voicemail_ami_connected{site="branch"}') == 1
    assert sample(text, 'voicemail_listener_lease_held{site="branch"}') == 1
    assert sample(text, 'voicemail_dead_letters{task="workers.tasks.seal_message"}') == 0  # not per site


def test_one_site_has_no_site_label_and_the_same_totals(engine: Engine) -> None:
    text = exposition(engine, ObserveSettings(cache_seconds=0))
    assert "site=" not in text
    assert sample(text, "voicemail_messages_discovered_total") == 4
    assert sample(text, 'voicemail_oldest_pending_seconds{queue="custody"}') == 12 * 60
    assert sample(text, "voicemail_custody_total_seconds_gcount") == 1
    assert sample(text, "voicemail_ami_connected") == 1


def test_the_site_label_follows_the_configuration() -> None:
    one = load_settings(environ={})
    several = load_settings(environ={"VOICEMAIL_SITES": "branch", "VOICEMAIL_SITE": "branch"})
    assert (observe_settings(one).sites, observe_settings(one).served_site) == ((), "")
    assert (observe_settings(several).sites, observe_settings(several).served_site) == (("default", "branch"),
                                                                                        "branch")


def test_each_sites_dead_letters_vault_and_pending_moves_add_up_to_the_installations(engine: Engine) -> None:
    kept = message(engine, "stripped", ago(hours=1), ago(hours=1), size=300, note_state="sending")
    branch_sealed = message(engine, "sealed", ago(minutes=6), ago(minutes=5), size=120)
    with engine.begin() as conn:
        conn.execute(update(MessageRow).where(MessageRow.id == branch_sealed).values(site="branch"))
        note = conn.execute(select(NotificationRow.id).where(NotificationRow.message_id == kept)).scalar_one()
        conn.execute(insert(DeadLetterRow), [
            {"task": "workers.tasks.send_notification", "ref_id": note, "error": "E", "attempts": 5},
            {"task": "workers.tasks.strip_message", "ref_id": branch_sealed, "error": "E", "attempts": 5},
            {"task": "workers.tasks.seal_message", "ref_id": "a message no longer on record", "error": "E",
             "attempts": 5}])
        conn.execute(insert(PendingMoveRow), [
            {"message_id": kept, "from_folder": "INBOX", "to_folder": "Old", "token": "t1", "attempts": 0},
            {"message_id": branch_sealed, "from_folder": "INBOX", "to_folder": "Old", "token": "t2", "attempts": 2}])
    snap = read_snapshot(engine, now=NOW, window=3600, per_site=True)
    default, branch = snap.sites["default"], snap.sites["branch"]
    assert default.dead_letters_open == {"workers.tasks.send_notification": 1}
    assert default.notifications_failed == 1  # parked while "sending"
    assert branch.dead_letters_open == {"workers.tasks.strip_message": 1} and branch.notifications_failed == 0
    assert sum(snap.dead_letters_open.values()) == 3  # the installation's also counts one of no message
    assert (default.vault_bytes, branch.vault_bytes, snap.vault_bytes) == (300, 120, 420)
    assert (default.pending_moves, default.pending_moves_failing) == (1, 0)
    assert (branch.pending_moves, branch.pending_moves_failing) == (1, 1)
    assert (snap.pending_moves, snap.pending_moves_failing) == (2, 1)
    assert branch.custody_pending == 2 and default.custody_pending == 1
    assert branch.oldest_custody_seconds == pytest.approx(6 * 60)
    assert read_snapshot(engine, now=NOW, window=3600).sites == {}  # one site: no per-site pass
