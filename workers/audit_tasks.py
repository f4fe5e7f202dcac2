"""Scheduled signed checkpoint of the audit chain head, shipped to audit_checkpoint_file / syslog."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from celery import Task

from voicemail.audit.shipping import sinks_from
from voicemail.audit.signing import SigningKey
from voicemail.audit.store import AuditLog
from workers.celery_app import app
from workers.runtime import container

log = logging.getLogger(__name__)


def checkpoint_once() -> int:
    """Sign the current head; returns its sequence number. A missing key is a configuration error."""
    c = container()
    settings = c.settings
    key = SigningKey.load(Path(settings.audit_signing_key))
    ship = sinks_from(settings.audit_checkpoint_file, settings.audit_checkpoint_syslog)
    audit = AuditLog(c.engine)
    cp = audit.checkpoint(key, kind="periodic", ship_to=ship)
    log.info("audit checkpoint at sequence %d (key %s)", cp.seq, cp.key_id)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.audit_retention_days)
    sealed = audit.seal_epoch(key, cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), ship_to=ship)
    if sealed is not None:
        log.info("audit events up to sequence %d sealed and removed (retention)", sealed.seq)
    return cp.seq


@app.task(bind=True, name="workers.audit_tasks.audit_checkpoint", acks_late=True)
def audit_checkpoint(self: Task) -> int:
    return checkpoint_once()
