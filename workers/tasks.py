"""Custody and notification tasks. Each takes an id, is idempotent, and never drops work:
transient errors retry with jittered exponential backoff; permanent ones (or too many retries)
are parked in the dead-letter table.

Custody retries are bounded in time (custody_retry_for, counted from the message's discovery), not in
number: a full vault volume (ENOSPC) or a database outage may last hours, and the recording stays in the
spool as plaintext until it is sealed, so giving up early would strand it. Notifications keep the retry
count bound (task_max_retries), and so does ``finish_shred`` (the end of a shred another site's process
started: its key is already destroyed, and its row stays ``shredding`` for that site's sweep).
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import random
from collections.abc import Callable, Iterable
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError

from voicemail.domain.errors import (
    CrashLoop,
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
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class _DiskFull:
    """Logs a full vault volume once per outage (per process), and its end."""

    since: dt.datetime | None = None

    @classmethod
    def hit(cls, ref_id: str) -> None:
        if cls.since is None:
            cls.since = dt.datetime.now(dt.UTC)
            log.error("ALERT vault volume full (no space left on device) while sealing message %s: sealing is "
                      "paused and retried with backoff; recordings stay in the spool until space is freed", ref_id)

    @classmethod
    def cleared(cls) -> None:
        if cls.since is not None:
            log.warning("vault volume has space again (full since %s); sealing resumed", f"{cls.since:%H:%M:%S}")
            cls.since = None


def no_space(exc: BaseException) -> bool:
    """The error (or what caused it) is a full disk or an exhausted quota."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in NO_SPACE:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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


def _give_up(task: Task, kind: str, ref_id: str) -> bool:
    """True when a transient failure has been retried long enough: notifications and the finishing of a shred
    after task_max_retries, custody once custody_retry_for has passed since the message was discovered
    (unknown: not yet)."""
    c = container()
    if kind in ("notification", "shred"):  # a shred's row stays "shredding": its site's sweep finishes it
        return bool(task.request.retries >= c.settings.task_max_retries)
    try:
        age = dt.datetime.now(dt.UTC) - c.store.discovered_at(ref_id)
    except TRANSIENT:  # the database is down too: keep retrying
        return False
    return age.total_seconds() >= c.settings.custody_retry_for


def _run(task: Task, kind: str, ref_id: str, step: Callable[[], Any]) -> Any:
    c = container()
    try:
        result = step()
    except CrashLoop as exc:
        if c.store.dead_letter(task.name or kind, ref_id, f"{type(exc).__name__}: {exc}", task.request.retries + 1):
            log.error("ALERT message %s parked as dead letter: %s; the recording stays in the spool (plaintext) "
                      "until `voicemail messages retry %s` after the cause is fixed", ref_id, exc, ref_id)
        else:
            log.info("message %s is parked (crash loop); a re-delivered run was not started", ref_id)
        raise
    except PERMANENT as exc:
        log.error("%s %s failed permanently: %s", kind, ref_id, type(exc).__name__)
        c.store.dead_letter(task.name or kind, ref_id, f"{type(exc).__name__}: {exc}", task.request.retries + 1)
        raise
    except TRANSIENT as exc:
        full = kind == "message" and no_space(exc)
        if full:
            _DiskFull.hit(ref_id)
        delay = countdown(exc, task.request.retries, c.settings.retry_backoff_max)
        if kind != "notification":
            try:
                c.store.note_failure(ref_id, f"{type(exc).__name__}: {exc}", retry_in=delay)
            except TRANSIENT as db_down:
                log.warning("message %s: failure not recorded (%s)", ref_id, type(db_down).__name__)
        if _give_up(task, kind, ref_id):
            log.error("%s %s gave up after %d retries", kind, ref_id, task.request.retries)
            c.store.dead_letter(task.name or kind, ref_id, f"{type(exc).__name__}: {exc}",
                                task.request.retries + 1)
            raise
        log.warning("%s %s: %s; retry in %.1f s", kind, ref_id, type(exc).__name__, delay)
        raise task.retry(exc=exc, countdown=delay, max_retries=None) from exc
    if kind == "message":
        _DiskFull.cleared()
    return result


def _elsewhere(task: Task, site: str) -> bool:
    """A custody task of another site than the one this worker's spool belongs to (``site`` routes it to
    ``custody.<site>``; empty: enqueued by this site): it is sent on to its own queue, never run here, where
    the message's files would look vanished."""
    from voicemail.config import serving_site

    here = serving_site(container().settings)
    if not site or site == here:
        return False
    log.warning("custody task %s is for site %s, not %s: sent on to its queue", task.request.id, site, here)
    task.apply_async(args=task.request.args, kwargs=task.request.kwargs)
    return True


@app.task(bind=True, acks_late=True, name="workers.tasks.seal_message")
def seal_message(self: Task, message_id: str, site: str = "") -> str:
    """Seal, verify and commit; then strip in the same run (strip_message exists for the sweeper).
    ``site``: the message's site, which routes the task to the workers that have its spool."""
    if _elsewhere(self, site):
        return "rerouted"
    notification_id: str | None = _run(self, "message", message_id,
                                       lambda: container().custody.take_custody(message_id))
    if notification_id is None:
        return "vanished"
    send_notification.delay(notification_id)
    return "stripped"


@app.task(bind=True, acks_late=True, name="workers.tasks.strip_message")
def strip_message(self: Task, message_id: str, site: str = "") -> str:
    if _elsewhere(self, site):
        return "rerouted"
    notification_id: str = _run(self, "message", message_id, lambda: container().custody.strip(message_id))
    send_notification.delay(notification_id)
    return notification_id


@app.task(bind=True, acks_late=True, name="workers.tasks.finish_shred")
def finish_shred(self: Task, message_id: str, site: str = "", actor: str = "voicemail", source: str = "",
                 reason: str = "") -> str:
    """Finish a shred whose key another site's process destroyed: the blobs, this site's Asterisk envelope
    (VoicemailRemove) and the tombstone (voicemail.services.shred). ``site`` routes it to the custody queue
    of the message's site, whose workers reach its AMI; idempotent (a finished shred is "already")."""
    if _elsewhere(self, site):
        return "rerouted"
    from voicemail.lifecycle.wiring import shredder_of

    result: str = _run(self, "shred", message_id, lambda: shredder_of(container()).shred(
        message_id, actor=actor, source=source, reason=reason))
    return result


@app.task(bind=True, acks_late=True, name="workers.tasks.send_notification")
def send_notification(self: Task, notification_id: str) -> str:
    result: str = _run(self, "notification", notification_id, lambda: container().notifier.send(notification_id))
    return result  # "busy": another worker holds the lease; it sends, or the sweeper re-enqueues after it


def _each_alone(task: Task, ids: Iterable[str]) -> int:
    """Hand each id to its per-message ``task`` (retries with backoff, dead letters); how many."""
    count = 0
    for item in ids:
        task.delay(item)
        count += 1
    return count


@app.task(bind=True, acks_late=True, name="workers.tasks.take_custody_batch")
def take_custody_batch(self: Task, message_ids: list[str], site: str = "") -> dict[str, int]:
    """Custody of many messages at once (voicemail.services.custody_batch), then one notification task for
    them. A message that fails in the batch, and every message of a batch that fails as a whole (the
    database, the vault's sync), goes to the per-message task, which retries with backoff and dead-letters:
    one poison message never holds the others back. ``site`` routes it as for ``seal_message``."""
    if _elsewhere(self, site):
        return {"rerouted": len(message_ids)}
    batch = container().batch_custody
    if batch is None:  # not wired (a container built without it): the per-message path does the same
        return {"isolated": _each_alone(seal_message, message_ids)}
    try:
        outcome = batch.take_custody(message_ids)
    except Exception as exc:
        log.warning("custody batch of %d message(s) failed (%s); each goes to the per-message task",
                    len(message_ids), type(exc).__name__)
        return {"isolated": _each_alone(seal_message, message_ids)}
    _each_alone(seal_message, outcome.isolated)
    if outcome.notifications:
        send_notifications.delay(list(outcome.notifications.values()))
    return {"stripped": len(outcome.notifications), "isolated": len(outcome.isolated),
            "skipped": len(outcome.skipped)}


@app.task(bind=True, acks_late=True, name="workers.tasks.send_notifications")
def send_notifications(self: Task, notification_ids: list[str]) -> dict[str, int]:
    """Send many notifications under one claim and one record (voicemail.services.notify_batch). What
    fails in the batch goes to the per-message task (retries, dead letters)."""
    batch = container().batch_notifier
    if batch is None:
        return {"handed_back": _each_alone(send_notification, notification_ids)}
    try:
        result = batch.send_many(notification_ids)
    except Exception as exc:
        log.warning("notification batch of %d failed (%s); each goes to the per-message task",
                    len(notification_ids), type(exc).__name__)
        return {"handed_back": _each_alone(send_notification, notification_ids)}
    _each_alone(send_notification, result.handed_back)
    return {"sent": result.sent, "busy": result.busy, "handed_back": len(result.handed_back)}


@app.task(bind=True, acks_late=True, name="workers.tasks.reconcile")
def reconcile(self: Task, site: str = "") -> dict[str, int]:
    """One reconciliation of ``site``'s spool (routed to its custody queue; empty: this worker's site)."""
    if _elsewhere(self, site):
        return {"rerouted": 1}
    from voicemail.app import check_first_start
    from voicemail.services.first_start import FirstStartBacklog

    try:  # a site never served whose spool holds a backlog waits for `voicemail import`: no announcements
        check_first_start(container())
    except FirstStartBacklog as exc:
        log.error("reconciliation skipped: %s; run `voicemail import` for it first (it announces none of them), "
                  "or start `voicemail run --announce-existing` to announce them all", exc)
        return {"skipped_backlog": 1}
    report = container().discovery.reconcile()
    removed = container().collect_vault_orphans()
    return {"mailboxes": report.mailboxes, "seen": report.seen, "new": report.new,
            "problems": len(report.problems), "vault_orphans_removed": removed}


@app.task(bind=True, acks_late=True, name="workers.tasks.sweep")
def sweep(self: Task) -> int:
    return sweep_once()


def enqueue_seal(message_id: str, site: str = "") -> None:
    """Hand a message to custody: to ``site``'s custody queue (empty: the site this process serves)."""
    seal_message.apply_async((message_id,), {"site": site} if site else None)


def enqueue_finish_shred(message_id: str, site: str, actor: str, source: str, reason: str) -> None:
    """Hand the rest of a shred (its key destroyed) to ``site``'s custody queue (voicemail.services.shred)."""
    finish_shred.apply_async((message_id,), {"site": site, "actor": actor, "source": source, "reason": reason})


def enqueue_custody(message_ids: list[str], site: str = "") -> None:
    """Hand the messages one discovery pass recorded to one batch task, on ``site``'s custody queue (empty:
    the site this process serves)."""
    take_custody_batch.apply_async((list(message_ids),), {"site": site} if site else None)


def sweep_once() -> int:
    """Re-enqueue work that has not progressed for `stale_after` seconds (a lost or stranded task), in
    batches: every stuck item is marked fresh in one transaction; the messages of a site (waiting for
    their seal or their strip) go out as ``take_custody_batch`` tasks of up to ``custody_batch_size`` on
    that site's queue, the notifications as ``send_notifications`` tasks of as many. Returns how many
    items were re-enqueued."""
    from voicemail.config import serving_site

    c = container()
    here, embedded = serving_site(c.settings), not c.settings.broker_url
    messages: dict[str, list[str]] = {}  # site -> message ids
    notifications: list[str] = []
    for work in c.store.stuck(c.settings.stale_after):
        if work.kind == "notification":
            notifications.append(work.id)
        elif embedded and work.site and work.site != here:
            continue  # no broker: only this site's own process can reach that site's spool
        else:
            messages.setdefault(work.site, []).append(work.id)
    count = sum(len(ids) for ids in messages.values()) + len(notifications)
    if not count:
        return 0
    c.store.touch_many("message", [m for ids in messages.values() for m in ids])
    c.store.touch_many("notification", notifications)
    size = c.settings.custody_batch_size
    tasks = 0
    for site, ids in messages.items():
        for chunk in chunks(ids, size):
            take_custody_batch.apply_async((chunk,), {"site": site} if site else None)
            tasks += 1
    for chunk in chunks(notifications, size):
        send_notifications.delay(chunk)
        tasks += 1
    log.info("sweeper re-enqueued %d stuck item(s) in %d task(s)", count, tasks)
    return count


def chunks(items: list[str], size: int) -> Iterable[list[str]]:
    """``items`` in consecutive lists of at most ``size``."""
    step = max(1, size)
    return (items[i:i + step] for i in range(0, len(items), step))


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
