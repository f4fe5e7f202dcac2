"""deploy/prometheus/alerts.yaml: valid for Prometheus (promtool), its unit tests pass, and every metric
it uses is one the service exports; the exposition passes promtool's metric lint."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from prometheus_client import generate_latest

from tests.requirements import require_binary
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.observe.collector import BrokerCache, ObserveSettings, SnapshotCache, build_registry

RULES = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"


def promtool() -> str:
    return require_binary("promtool", package="prometheus")


def test_promtool_accepts_the_rules() -> None:
    r = subprocess.run([promtool(), "check", "rules", str(RULES / "alerts.yaml")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    r = subprocess.run([promtool(), "test", "rules", "alerts.test.yaml"], cwd=RULES, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_example_prometheus_config_is_valid() -> None:
    r = subprocess.run([promtool(), "check", "config", "--syntax-only", str(RULES / "prometheus.yml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


class ListenerState:
    """The RuntimeStatus of a listener that connected twice and reconciled once."""

    def ami_connected(self) -> bool:
        return True

    def ami_connects(self) -> int:
        return 2

    def reconciliations(self) -> int:
        return 1

    def last_reconciled_at(self) -> float | None:
        return 1_700_000_000.0

    def listener_lease_held(self) -> bool:
        return True


def test_every_metric_the_alerts_use_is_exported(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    with engine.begin() as conn:  # one signed checkpoint, so its age is exported too
        conn.exec_driver_sql("INSERT INTO audit_checkpoints (seq, head_hash, at, key_id, signature, kind) "
                             "VALUES (1, 'h', '2026-01-01T00:00:00+00:00', 'k', 's', 'periodic')")
    settings = ObserveSettings(cache_seconds=0, quota_site_bytes=1000)
    registry = build_registry(SnapshotCache(engine, settings), BrokerCache(settings), settings, ListenerState())
    exported = generate_latest(registry).decode()
    engine.dispose()
    names = set(re.findall(r"^(voicemail_\w+)", exported, re.MULTILINE))
    used = set(re.findall(r"\b(voicemail_[a-z_]+)", (RULES / "alerts.yaml").read_text()))
    assert used, "no voicemail_ metric in the rules"
    assert used <= names, f"alerts use metrics the service does not export: {sorted(used - names)}"
    assert "voicemail_ami_reconnects_total 1.0" in exported
    lint = subprocess.run([promtool(), "check", "metrics"], input=exported, capture_output=True, text=True,
                          timeout=60)
    assert lint.returncode == 0, f"promtool check metrics (naming and format lint): {lint.stdout}{lint.stderr}"


def test_a_database_that_does_not_answer_is_reported_not_raised() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/voicemail?connect_timeout=2")
    settings = ObserveSettings(cache_seconds=0)
    registry = build_registry(SnapshotCache(engine, settings), BrokerCache(settings), settings, ListenerState())
    exported = generate_latest(registry).decode()
    engine.dispose()
    assert "voicemail_database_up 0.0" in exported
    assert "voicemail_ami_connected 1.0" in exported  # the listener's figures are still served
    assert "voicemail_messages_sealed_total" not in exported  # no stale or made-up database figures
