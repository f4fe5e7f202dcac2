"""Custody and notification tasks. Each takes an id, is idempotent, and never drops work:
transient errors retry with jittered exponential backoff; permanent ones (or too many retries)
are parked in the dead-letter table."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError

from voicemail.domain.errors import (
    IntegrityError,
    InvalidInput,
    KeyringError,
    NotFound,
    PermanentError,
    TransientError,
)
from workers.celery_app import app
from workers.runtime import container

log = logging.getLogger(__name__)

PERMANENT = (PermanentError, InvalidInput, IntegrityError, KeyringError, NotFound)
TRANSIENT = (TransientError, OSError, ConnectionError, TimeoutError, OperationalError)  # DB down/restarting


def backoff(retries: int, cap: int) -> float:
    """Full-jitter exponential backoff: uniform(0, min(cap, 2**retries))."""
    return random.uniform(0.5, float(min(cap, 2 ** (retries + 1))))


def countdown(exc: BaseException, retries: int, cap: int) -> float:
    """The pause before the next try: jittered backoff, but never shorter than the server's own hint
    (``retry_after`` of mailer.errors.RetryLater: EWS BackOffMilliseconds, HTTP Retry-After)."""
    delay = backoff(retries, cap)
    hint = getattr(exc, "retry_after", None)
    if isinstance(hint, int | float) and not isinstance(hint, bool) and 0 < hint < float("inf"):
        delay = max(delay, min(float(hint), 3600.0))
    return delay


def _run(task: Task, kind: str, ref_id: str, step: Callable[[], Any]) -> Any:
    c = container()
    try:
        return step()
    except PERMANENT as exc:
        log.error("%s %s failed permanently: %s", kind, ref_id, type(exc).__name__)
        c.store.dead_letter(task.name or kind, ref_id, f"{type(exc).__name__}: {exc}", task.request.retries + 1)
        raise
    except TRANSIENT as exc:
        if kind != "notification":
            c.store.note_failure(ref_id, f"{type(exc).__name__}: {exc}")
        if task.request.retries >= c.settings.task_max_retries:
            log.error("%s %s gave up after %d retries", kind, ref_id, task.request.retries)
            c.store.dead_letter(task.name or kind, ref_id, f"{type(exc).__name__}: {exc}",
                                task.request.retries + 1)
            raise
        delay = countdown(exc, task.request.retries, c.settings.retry_backoff_max)
        log.warning("%s %s: %s; retry in %.1f s", kind, ref_id, type(exc).__name__, delay)
        raise task.retry(exc=exc, countdown=delay, max_retries=None) from exc


@app.task(bind=True, acks_late=True, name="workers.tasks.seal_message")
def seal_message(self: Task, message_id: str) -> str:
    """Seal, verify and commit; then strip in the same run (strip_message exists for the sweeper)."""
    notification_id: str | None = _run(self, "message", message_id,
                                       lambda: container().custody.take_custody(message_id))
    if notification_id is None:
        return "vanished"
    send_notification.delay(notification_id)
    return "stripped"


@app.task(bind=True, acks_late=True, name="workers.tasks.strip_message")
def strip_message(self: Task, message_id: str) -> str:
    notification_id: str = _run(self, "message", message_id, lambda: container().custody.strip(message_id))
    send_notification.delay(notification_id)
    return notification_id


@app.task(bind=True, acks_late=True, name="workers.tasks.send_notification")
def send_notification(self: Task, notification_id: str) -> str:
    result: str = _run(self, "notification", notification_id, lambda: container().notifier.send(notification_id))
    return result


@app.task(bind=True, acks_late=True, name="workers.tasks.reconcile")
def reconcile(self: Task) -> dict[str, int]:
    report = container().discovery.reconcile()
    removed = container().collect_vault_orphans()
    return {"mailboxes": report.mailboxes, "seen": report.seen, "new": report.new,
            "problems": len(report.problems), "vault_orphans_removed": removed}


@app.task(bind=True, acks_late=True, name="workers.tasks.sweep")
def sweep(self: Task) -> int:
    return sweep_once()


def enqueue_seal(message_id: str) -> None:
    seal_message.delay(message_id)


def sweep_once() -> int:
    """Re-enqueue work that has not progressed for `stale_after` seconds (a lost or stranded task)."""
    c = container()
    count = 0
    for work in c.store.stuck(c.settings.stale_after):
        c.store.touch(work.kind, work.id)
        if work.kind == "notification":
            send_notification.delay(work.id)
        elif work.state == "discovered":
            seal_message.delay(work.id)
        else:
            strip_message.delay(work.id)
        count += 1
    if count:
        log.info("sweeper re-enqueued %d stuck item(s)", count)
    return count


# --- directory (LDAP) ----------------------------------------------------------------------------
@app.task(bind=True, acks_late=True, name="workers.tasks.directory_sync")
def directory_sync(self: Task, full: bool = False) -> dict[str, object]:
    """The scheduled directory sync. A failure is logged and left to the next scheduled run: the synced
    copy stays trusted for directory_max_age, after which every caller is external."""
    from voicemail.directory.operations import run_sync

    c = container()
    try:
        return run_sync(c.settings, full=full, engine=c.engine, migrate=False).as_dict()
    except TransientError as exc:
        log.warning("directory sync did not complete: %s", exc)
        return {"error": str(exc)}
    except Exception as exc:  # a database error's text quotes directory data: the class only (details in the state)
        log.warning("directory sync did not complete: %s", type(exc).__name__)
        return {"error": type(exc).__name__}
