"""Batched notification: many notifications under one claim, one sender connection and one record.

1. claim every notification's lease in one transaction (a fencing token each, as ``claim_notification``);
2. look each mailbox's recipient and new-message count up once, compose and send each e-mail (the outbox
   mailer syncs the whole batch once, the SMTP sender keeps its connection);
3. record every send in one transaction.

The fencing of the per-message path holds: right before each send commits (``before_commit``), the worker
knows its lease is still alive, either because it claimed or renewed it less than half a lease ago on its
own monotonic clock (a worker paused past that point renews), or because it renews all the batch's leases
now, in one statement, and abandons the send whose token is no longer the newest. A notification that
fails in the batch's hands has its lease released and is handed back (``handed_back``) to the per-message
task, which retries with backoff and dead-letters. A worker that dies after some sends and before the
record leaves them unrecorded: they are sent again after their lease (the outbox keeps one file each; over
SMTP each may arrive twice, with the same Message-ID).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from voicemail.db.batch_store import SqlBatchStore
from voicemail.domain.errors import LeaseLost
from voicemail.domain.models import MailboxRef
from voicemail.domain.ports import Mailer
from voicemail.failpoints import Failpoints
from voicemail.services.notify import Notifier

log = logging.getLogger(__name__)


@dataclass
class BatchSent:
    sent: int = 0
    busy: int = 0  # another worker holds the lease
    handed_back: list[str] = field(default_factory=list)  # for the per-message task


class BatchNotifier:
    def __init__(self, notifier: Notifier, store: SqlBatchStore, mailer: Mailer, lease_seconds: float,
                 failpoints: Failpoints | None = None, clock: Callable[[], float] = time.monotonic,
                 sync_from: int = 8) -> None:
        self._notifier, self._store, self._mailer = notifier, store, mailer
        self._lease = lease_seconds
        self._fail = failpoints or Failpoints()
        self._clock = clock
        self._sync_from = sync_from  # smaller batches: each e-mail made durable on its own (see custody_batch)

    def send_many(self, notification_ids: Sequence[str]) -> BatchSent:
        result = BatchSent()
        claimed_at = self._clock()
        claimed, busy = self._store.claim_notifications(notification_ids, self._lease)
        result.busy = len(busy)
        if not claimed:
            return result
        tokens = {w.id: w.token for w in claimed}
        fresh = [claimed_at]  # when our leases were last known to run for a whole lease from then

        def before_commit_of(notification_id: str) -> Callable[[], None]:
            def before_commit() -> None:
                if self._clock() - fresh[0] < self._lease / 2:
                    return
                asked = self._clock()
                renewed = self._store.renew_leases(tokens, self._lease)
                fresh[0] = asked
                for lost in set(tokens) - renewed:
                    tokens.pop(lost)
                if notification_id not in renewed:
                    log.warning("notification %s: lease lost before sending (overtaken); this send is abandoned",
                                notification_id)
                    raise LeaseLost(f"notification {notification_id}: another worker took it over")
            return before_commit

        records = self._store.records([w.message_id for w in claimed])
        notes = self._notifier.forward_notes(list(records))
        recipients: dict[MailboxRef, tuple[str, str, str]] = {}
        counts: dict[MailboxRef, int] = {}
        sent: list[tuple[str, str, int]] = []
        deferred = len(claimed) >= self._sync_from and callable(getattr(self._mailer, "batch", None))
        log.info("notification batch: sending %d, %s", len(claimed),
                 "made durable by the mailer once at the end" if deferred else "each e-mail made durable on its own")
        try:
            with self._batch() if deferred else contextlib.nullcontext():
                for work in claimed:
                    try:
                        record = records[work.message_id]
                        if record.mailbox not in recipients:
                            recipients[record.mailbox] = self._notifier.recipient(record.mailbox)
                            counts[record.mailbox] = self._notifier.new_count(record.mailbox)
                        email, address = self._notifier.compose_for(record, work.id, recipients[record.mailbox],
                                                                    counts[record.mailbox], notes)
                        self._mailer.send(email, before_commit_of(work.id))
                    except Exception as exc:  # the per-message task retries it, or parks it
                        log.info("notification %s handed to the per-message task (%s)", work.id, type(exc).__name__)
                        result.handed_back.append(work.id)
                        continue
                    self._fail.hit("notify.after_send")
                    sent.append((work.id, address, work.token))
        except BaseException:
            # sends whose durability was deferred to the batch's end are not recorded (they are sent again
            # after their lease, and the outbox keeps the file it has); a mail server's acceptance is
            self._record([] if deferred else sent, {n: tokens[n] for n in result.handed_back if n in tokens})
            raise
        self._record(sent, {n: tokens[n] for n in result.handed_back if n in tokens})
        result.sent = len(sent)
        return result

    def _batch(self) -> AbstractContextManager[object]:
        batch = getattr(self._mailer, "batch", None)
        return batch() if callable(batch) else contextlib.nullcontext()

    def _record(self, sent: list[tuple[str, str, int]], released: dict[str, int]) -> None:
        for lost in self._store.mark_sent(sent):
            log.error("notification %s: the lease was lost while the mail server took the message; the owner "
                      "may receive a second copy", lost)
        self._store.release_leases(released)
        if sent:
            log.info("notification batch: %d sent", len(sent))
