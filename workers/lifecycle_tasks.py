"""Scheduled retention: the daily `retention run` as a Celery task.

The beat entry ``retention-run`` (every ``retention_interval`` seconds, default daily) is emitted by
the one `voicemail beat` of a site (Celery beat keeps no cluster-wide lock: run exactly one). The task
itself is safe to run twice at once: the ``retention`` database lease lets one run proceed and the
other return at once ("busy"), and every destruction is idempotent.
"""

from __future__ import annotations

import logging
import socket

from celery import Task

from voicemail.lifecycle.lease import LeaseBusy
from voicemail.lifecycle.wiring import Lifecycle
from workers.celery_app import app
from workers.runtime import container

log = logging.getLogger(__name__)


def retention_once() -> dict[str, int | str]:
    lc = Lifecycle(container())
    try:
        report = lc.runner("retention", f"beat@{socket.gethostname()}").run()
    except LeaseBusy:
        log.info("retention run skipped: another run holds the lease")
        return {"status": "busy"}
    warned = lc.warner().run()
    if report.destroyed and lc.settings.retention_rotate_kek:
        lc.shred_from_backups("retention", f"beat@{socket.gethostname()}")
    return {"status": "done", "destroyed": report.destroyed, "held": report.held, "failed": report.failed,
            "warned": warned, "record": str(report.record["record"]["id"])}


@app.task(bind=True, name="workers.lifecycle_tasks.retention_run", acks_late=True)
def retention_run(self: Task) -> dict[str, int | str]:
    return retention_once()
