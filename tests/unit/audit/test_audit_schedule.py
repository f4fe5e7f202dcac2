"""The scheduled checkpoint: in the beat schedule, and the task signs and ships the head."""

from __future__ import annotations

from pathlib import Path

from tests.unit.core.test_custody import World
from voicemail.app import build_container
from voicemail.audit.chain import AuditEvent
from voicemail.audit.checkpoint import read_shipped
from voicemail.audit.signing import SigningKey
from voicemail.audit.store import AuditLog
from voicemail.config import load_settings
from workers import runtime
from workers.audit_tasks import checkpoint_once
from workers.celery_app import configure


def test_beat_schedules_signed_checkpoints_that_are_shipped(tmp_path: Path) -> None:
    world = World(tmp_path)
    key = SigningKey.create(tmp_path / "audit.pem")
    settings = load_settings(environ={
        "VOICEMAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'vm.db'}", "VOICEMAIL_VAULT_DIR": str(tmp_path / "vault"),
        "VOICEMAIL_KEYRING": str(tmp_path / "keyring.json"), "VOICEMAIL_SPOOL_DIR": str(tmp_path / "spool"),
        "VOICEMAIL_OUTBOX_DIR": str(tmp_path / "outbox"), "VOICEMAIL_AUDIT_SIGNING_KEY": str(tmp_path / "audit.pem"),
        "VOICEMAIL_AUDIT_CHECKPOINT_FILE": str(tmp_path / "ship.jsonl"), "VOICEMAIL_AUDIT_CHECKPOINT_INTERVAL": "600"})
    entry = configure(settings).conf.beat_schedule["audit-checkpoint"]
    assert entry == {"task": "workers.audit_tasks.audit_checkpoint", "schedule": 600.0}
    container = build_container(settings, on_new=lambda _id: None)
    runtime.install(container)
    try:
        AuditLog(container.engine).append(AuditEvent(actor="a", action="sign-in"))
        assert checkpoint_once() == 1
        [shipped] = read_shipped(tmp_path / "ship.jsonl")
        assert shipped.seq == 1 and shipped.verify(key.public)
        assert AuditLog(container.engine).verify(key.public, tmp_path / "ship.jsonl").ok
    finally:
        runtime.install(None)  # type: ignore[arg-type]
        container.close()
    assert world.store is not None
