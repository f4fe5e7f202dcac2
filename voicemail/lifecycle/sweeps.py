"""Retention of the record classes that are plain rows: CDRs, notifications, release requests.

Each sweep deletes rows older than the cutoff in batches and returns their ids (for the destruction
record). Notifications are removed only once final (sent or failed); a notification of a message
still in custody is never touched. Audit events are not rows to delete here: they are sealed by a
signed epoch checkpoint first (``AuditLog.seal_epoch``, called by the runner).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from voicemail.audit.tables import cdrs, release_requests
from voicemail.db.models import NotificationRow

notifications = cast(Table, NotificationRow.__table__)


def _sweep(engine: Engine, table: Table, key: Any, condition: ColumnElement[bool], batch: int,
           dry_run: bool) -> list[str]:
    ids: list[str] = []
    after: Any = None
    while True:
        query = select(key).where(condition).order_by(key).limit(batch)
        if after is not None:
            query = query.where(key > after)
        with engine.begin() as conn:
            found = list(conn.execute(query).scalars())
            if not found:
                return ids
            if not dry_run:
                conn.execute(delete(table).where(key.in_(found)))
        after = found[-1]
        ids.extend(str(i) for i in found)


def _cdrs(cutoff_iso: str) -> tuple[Table, Any, ColumnElement[bool]]:
    return cdrs, cdrs.c.id, cdrs.c.received_at < cutoff_iso


def _notifications(cutoff_iso: str) -> tuple[Table, Any, ColumnElement[bool]]:
    cutoff = dt.datetime.fromisoformat(cutoff_iso.replace("Z", "+00:00"))
    return (notifications, notifications.c.id,
            (notifications.c.created_at < cutoff) & notifications.c.state.in_(("sent", "failed")))


def _release_requests(cutoff_iso: str) -> tuple[Table, Any, ColumnElement[bool]]:
    return release_requests, release_requests.c.id, release_requests.c.requested_at < cutoff_iso


def sweep_cdrs(engine: Engine, cutoff_iso: str, *, batch: int = 1000, dry_run: bool = False) -> list[str]:
    return _sweep(engine, *_cdrs(cutoff_iso), batch, dry_run)


def sweep_notifications(engine: Engine, cutoff_iso: str, *, batch: int = 1000, dry_run: bool = False) -> list[str]:
    return _sweep(engine, *_notifications(cutoff_iso), batch, dry_run)


def sweep_release_requests(engine: Engine, cutoff_iso: str, *, batch: int = 1000,
                           dry_run: bool = False) -> list[str]:
    return _sweep(engine, *_release_requests(cutoff_iso), batch, dry_run)


TARGETS = {"cdrs": _cdrs, "notifications": _notifications, "evidence_exports": _release_requests}


def count_due(engine: Engine, record_class: str, cutoff_iso: str) -> int:
    """How many rows of ``record_class`` (cdrs, notifications, evidence_exports) a sweep at ``cutoff_iso``
    would delete: one COUNT, nothing read into memory."""
    _table, key, condition = TARGETS[record_class](cutoff_iso)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count(key)).where(condition)).scalar_one())
