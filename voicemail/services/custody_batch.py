"""Batched custody: seal, verify, commit, strip and commit many messages at once, with the guarantees of
the per-message path (voicemail.services.custody) and its durability order, per message:

1. count a run of every message in one transaction (a fresh attempt token each, as ``begin_custody``);
2. seal every format of each message into the vault without a per-file fsync, verify each blob;
3. make the batch's blobs durable at once (``vault.sync()``: one syncfs);
4. commit the sealed copies in one transaction (only runs whose token is still the newest commit);
5. swap each recording for its placeholder without a per-file fsync, then ``spool.sync()``;
6. commit the strips, the runs' ends and the notification rows in one transaction.

(A batch of fewer than ``sync_from`` messages fsyncs its own files and folders in steps 2 and 5 instead
of the two syncs: on a busy host a sync of the file system also flushes everyone else's writes.)
So a message's plaintext is replaced only after its sealed blob and its row are durable, as in the
per-message path; a crash anywhere leaves each message discovered (blobs without a row: vault orphans),
sealed (its strip is retried) or stripped. A message that fails in the batch's hands (it moved, the vault
is full, it cannot be read) is not retried here: it is handed back (``isolated``) to the per-message path,
which retries with backoff and dead-letters. A message whose previous run never finished (a batch died
with its worker, maybe because of it) is never batched again: it goes to the per-message path, whose
crash-loop count parks a poison recording without holding the others back.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from voicemail.db.batch_store import SealedItem, SqlBatchStore
from voicemail.domain.models import MailboxRef, SpoolMessage
from voicemail.domain.ports import AsteriskControl, Keyring
from voicemail.domain.records import DISCOVERED, SEALED, CustodyRun, MessageRecord
from voicemail.failpoints import Failpoints
from voicemail.services.batch_steps import seal_unsynced, strip_unsynced, swap_listings
from voicemail.spool import FileSpool
from voicemail.vault import FileVault

log = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    notifications: dict[str, str] = field(default_factory=dict)  # message id -> notification id, ready to send
    isolated: list[str] = field(default_factory=list)  # for the per-message path
    skipped: list[str] = field(default_factory=list)  # nothing to do (vanished, destroyed, unknown, taken over)


class BatchCustody:
    def __init__(self, spool: FileSpool, vault: FileVault, keyring: Keyring, store: SqlBatchStore,
                 asterisk: AsteriskControl | None = None, failpoints: Failpoints | None = None,
                 heartbeat_every: float = 15.0, threads: int = 4, sync_from: int = 8, batch_size: int = 50) -> None:
        self._spool, self._vault, self._keyring, self._store = spool, vault, keyring, store
        # the file steps of a batch overlap in threads (their waits on the disk release the GIL), as in the import
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="custody")
        self._prepared = False
        # batches of at least this many messages are made durable by one sync of the file system per step;
        # smaller ones fsync their own files (a busy host's syncfs flushes everyone's writes)
        self._sync_from = max(1, sync_from)
        self._batch_size = batch_size  # a batch takes along other waiting messages of its mailboxes up to this
        self._asterisk = asterisk
        self._fail = failpoints or Failpoints()
        self._heartbeat_every = heartbeat_every
        # --- lifecycle: called with the message id after each committed seal (vault quota) ---
        self.after_seal: Callable[[str], None] | None = None

    def take_custody(self, message_ids: Sequence[str]) -> BatchOutcome:
        start = self._store.begin_runs(message_ids, more=max(0, self._batch_size - len(message_ids)))
        outcome = BatchOutcome(notifications=dict(start.done), isolated=list(start.isolate),
                               skipped=list(start.skipped))
        if not start.runs:
            return outcome
        ours = [run.message_id for _, run in start.runs]
        try:
            sealed = self._seal_all(start.runs, outcome)
            stripped, replaced = self._strip_all(sealed, outcome)
            if len(sealed) >= self._sync_from:
                self._spool.sync()  # the placeholders are durable before the strips are recorded
            self._fail.hit("strip.before_commit")
            outcome.notifications.update(self._store.commit_stripped(stripped, ours, outcome.isolated))
        except BaseException:
            try:  # failed in our hands: the per-message path starts afresh, its crash count untouched
                self._store.end_runs(ours, ours)
            except Exception as exc:
                log.warning("could not record the end of %d custody run(s): %s", len(ours), type(exc).__name__)
            raise
        for mailbox in replaced:
            self._refresh(mailbox)
        log.info("custody batch: %d stripped, %d for the per-message path, %d with nothing to do",
                 len(stripped), len(outcome.isolated), len(outcome.skipped))
        return outcome

    def _isolate(self, outcome: BatchOutcome, record: MessageRecord, why: BaseException | str) -> None:
        reason = why if isinstance(why, str) else type(why).__name__
        log.info("message %s handed to the per-message custody path (%s)", record.id, reason)
        outcome.isolated.append(record.id)

    def _seal_one(self, record: MessageRecord, run: CustodyRun, durable: bool, seen: SpoolMessage | None,
                  ) -> tuple[SealedItem, SpoolMessage] | BaseException | str:
        """Step 2 for one message: what to commit, or why it goes to the per-message path. ``seen``: where
        the batch's listing found it (None: looked for here)."""
        try:
            found = seen or self._locate(record)
            if found is None:  # vanished, or mid-renumbering: the per-message path looks again, then decides
                return "not where it was seen"
            wrapped, recordings = seal_unsynced(self._spool, self._vault, self._keyring, found, record.id,
                                                run.attempt, after_blob=lambda: self._fail.hit("seal.mid"),
                                                durable=durable)
        except Exception as exc:
            return exc
        return SealedItem(record.id, run.attempt, wrapped, recordings), found

    def _seal_all(self, runs: list[tuple[MessageRecord, CustodyRun]],
                  outcome: BatchOutcome) -> list[tuple[MessageRecord, SpoolMessage | None]]:
        """Steps 2-4. Returns the messages sealed on record (now or before) with where they lie."""
        ready: list[tuple[MessageRecord, SpoolMessage | None]] = [(r, None) for r, _ in runs if r.state == SEALED]
        todo = [(record, run) for record, run in runs if record.state == DISCOVERED]
        if not todo:
            return ready
        if not self._prepared:  # every fan folder made once, with one fsync (as the import does)
            self._vault.prepare()
            self._prepared = True
        beat = self._beater([run.message_id for _, run in runs])
        items: list[tuple[SealedItem, MessageRecord, SpoolMessage]] = []
        durable = len(todo) < self._sync_from
        log.info("custody batch: sealing %d message(s), %s", len(todo),
                 "each file fsynced" if durable else "one sync of the file system per step")
        seen = self._locate_all([record for record, _ in todo])
        sealed = self._pool.map(lambda job: self._seal_one(job[0], job[1], durable, seen.get(job[0].id)), todo)
        for (record, _), done in zip(todo, sealed, strict=True):
            if isinstance(done, tuple):
                items.append((done[0], record, done[1]))
            else:
                self._isolate(outcome, record, done)
            beat()
        if not items:
            return ready
        if not durable:
            self._vault.sync()  # the blobs are durable before any row points to them
        committed = self._store.commit_sealed([item for item, _, _ in items])
        self._fail.hit("seal.after_commit")
        for item, record, found in items:
            if item.message_id not in committed:  # a newer run took over: it finishes the message
                for rec in item.recordings:
                    self._vault.delete(rec.blob_name)
                outcome.skipped.append(item.message_id)
                continue
            ready.append((dataclasses.replace(record, state=SEALED, recordings=item.recordings,
                                              wrapped_key=item.wrapped), found))
            if self.after_seal is not None:  # lifecycle: a quota failure never fails custody
                try:
                    self.after_seal(item.message_id)
                except Exception as exc:
                    log.error("vault quota check after sealing %s failed: %s", item.message_id, type(exc).__name__)
        log.info("custody batch: sealed %d message(s)", len(committed))
        return ready

    def _strip_one(self, record: MessageRecord, seen: SpoolMessage | None, middle: bool, durable: bool,
                   swaps: dict[tuple[MailboxRef, str], frozenset[str]]) -> bool | BaseException:
        """Step 5 for one message: True when a recording was replaced now, or the error. ``middle``: the
        batch's middle message (a fault test kills the worker there, part of the batch stripped). ``swaps``:
        the swap files of the folders the batch listed once (the others are listed by each strip)."""
        try:
            found = seen or self._locate(record)  # None: gone after its seal, nothing left to strip
            hashes = {r.fmt: r.sha256 for r in record.recordings}
            replaced = found is not None and strip_unsynced(
                self._spool, found, hashes, durable=durable,
                swaps=swaps.get((found.mailbox, found.folder)) if found is seen else None) > 0
        except Exception as exc:
            return exc
        if middle:
            self._fail.hit("batch.mid_strip")
        return replaced

    def _strip_all(self, sealed: list[tuple[MessageRecord, SpoolMessage | None]],
                   outcome: BatchOutcome) -> tuple[list[str], set[MailboxRef]]:
        """Step 5 (without the sync). Returns the ids whose strip may be recorded, and the mailboxes in
        which a recording was replaced."""
        stripped: list[str] = []
        replaced: set[MailboxRef] = set()
        middle = len(sealed) // 2 if len(sealed) > 1 else -1
        durable = len(sealed) < self._sync_from
        swaps = swap_listings(self._spool, (seen for _, seen in sealed if seen is not None))
        results = self._pool.map(lambda job: self._strip_one(job[1][0], job[1][1], job[0] == middle, durable, swaps),
                                 enumerate(sealed))
        for (record, _), done in zip(sealed, results, strict=True):
            if isinstance(done, BaseException):
                self._isolate(outcome, record, done)
                continue
            if done:
                replaced.add(record.mailbox)
            stripped.append(record.id)
        return stripped, replaced

    def _locate_all(self, records: list[MessageRecord]) -> dict[str, SpoolMessage]:
        """Record id -> the message where it was last seen, each folder listed once (``FileSpool.find_hinted``);
        the ones not there (or whose mailbox could not be listed) are looked for one by one (``_locate``)."""
        hints: dict[MailboxRef, list[MessageRecord]] = {}
        for record in records:
            if record.number is not None:
                hints.setdefault(record.mailbox, []).append(record)
        found: dict[str, SpoolMessage] = {}
        for mailbox, hinted in hints.items():
            try:
                at = self._spool.find_hinted(mailbox, [(r.msg_id, r.folder, r.number) for r in hinted
                                                       if r.number is not None])
            except Exception as exc:  # each message is looked for on its own, and its own error is reported
                log.debug("listing mailbox %s for the batch failed (%s)", mailbox, type(exc).__name__)
                continue
            found.update({r.id: at[r.msg_id] for r in hinted if r.msg_id in at})
        return found

    def _locate(self, record: MessageRecord) -> SpoolMessage | None:
        hint = (record.folder, record.number) if record.number is not None else None
        return self._spool.find(record.mailbox, record.msg_id, hint)

    def _beater(self, message_ids: list[str]) -> Callable[[], None]:
        """Marks the batch's messages as progressing at most every ``heartbeat_every`` seconds: the sweeper
        never re-enqueues a batch that is merely long."""
        last = time.monotonic()

        def beat() -> None:
            nonlocal last
            if time.monotonic() - last >= self._heartbeat_every:
                last = time.monotonic()
                self._store.touch_messages(message_ids)
        return beat

    def _refresh(self, mailbox: MailboxRef) -> None:
        if self._asterisk is None:
            return
        try:
            self._asterisk.refresh(mailbox)
        except Exception as exc:  # counts are unchanged by a placeholder; a missed refresh is harmless
            log.warning("VoicemailRefresh for %s failed: %s", mailbox, type(exc).__name__)
