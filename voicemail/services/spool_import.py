"""Importing an existing spool: custody of every message already in it, in batches.

For each batch of messages (walked mailbox by mailbox, one mailbox's listing in memory at a time):

1. seal every format of each message into the vault (a fresh data key each) without a per-file fsync,
   and verify each blob by decrypting it;
2. make the whole batch's blobs durable at once (``vault.sync()``: one syncfs);
3. commit the batch's rows in ONE transaction (state sealed, recordings, wrapped keys, the per-message
   ``custody.discovered`` / ``custody.sealed`` events, and a "skipped" notification unless announcing);
4. only then replace each recording in the spool by its placeholder (fsynced swap, as the live strip);
5. commit the batch as stripped in one transaction (``custody.stripped`` events).

So a message's plaintext is replaced only after its sealed blob and its row are durable. A crash leaves
each message either untouched (blobs without a row: vault orphans the GC removes), or sealed with its
plaintext still there (the next run strips it), or stripped. The identity is Asterisk's msg_id within
its mailbox: a message on record is never sealed again, by a rerun or by the live pipeline. Messages
recorded at or after the run's cutoff (its start by the database's clock, less a margin: the CLI's
``--cutoff-margin``) are left to the live pipeline, which announces them.
No VoicemailRefresh is sent: a placeholder keeps Asterisk's counts, so there is nothing to refresh.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePath

from voicemail.db.import_store import ImportRun, SealedImport, SqlImportStore
from voicemail.domain.errors import SpoolChanged
from voicemail.domain.models import Caller, Envelope, MailboxRef, SpoolMessage
from voicemail.domain.ports import Keyring
from voicemail.domain.records import DISCOVERED, SEALED, STRIPPED
from voicemail.failpoints import Failpoints
from voicemail.services.batch_steps import seal_unsynced, strip_unsynced, swap_listings
from voicemail.spool import FileSpool
from voicemail.spool.safe_fs import MSG_FILE
from voicemail.vault import FileVault

log = logging.getLogger(__name__)

IMPORT_ATTEMPT = "import"  # the blob name's attempt part for imported messages


@dataclass
class ImportReport:
    mailboxes: int = 0
    seen: int = 0
    imported: int = 0        # sealed and stripped by this run
    resumed_strips: int = 0  # sealed by an earlier, interrupted run; stripped now
    already: int = 0         # in custody already (an earlier run or the live pipeline)
    left_to_live: int = 0    # newer than the cutoff, or being taken by the live pipeline
    vanished: int = 0        # left the spool while being imported (Asterisk moved or removed it)
    problems: int = 0


def _is_envelope(path: str) -> bool:
    """Whether ``path`` names a message's envelope file (msgNNNN.txt), as FileSpool.count_envelopes counts."""
    found = MSG_FILE.match(PurePath(path).name)
    return found is not None and found["ext"] == "txt"


class RateLimit:
    """At most ``per_second`` calls of ``wait()`` per second on average (0 = no limit)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = clock()

    def wait(self) -> None:
        if not self._interval:
            return
        now = self._clock()
        if self._next > now:
            self._sleep(self._next - now)
        self._next = max(self._next, now) + self._interval


class SpoolImport:
    def __init__(self, spool: FileSpool, vault: FileVault, keyring: Keyring, store: SqlImportStore,
                 classify: Callable[[Envelope], Caller], *, batch_size: int = 200, rate: float = 0.0,
                 threads: int = 8, failpoints: Failpoints | None = None) -> None:
        self._spool, self._vault, self._keyring, self._store = spool, vault, keyring, store
        self._classify = classify
        self._batch_size = max(1, batch_size)
        self._threads = max(1, threads)
        self._limit = RateLimit(rate)
        self._fail = failpoints or Failpoints()

    def run(self, run: ImportRun, step: Callable[[int], None] | None = None,
            settled: Callable[[int], None] | None = None, *, report: ImportReport | None = None) -> ImportReport:
        """Take custody of every message older than ``run.cutoff``. ``step(n)`` is told of messages worked on
        (sealed, stripped, or found gone meanwhile); ``settled(n)`` of envelopes that needed no work (in
        custody already, left to the live pipeline, spool problems), so that a progress bar over every
        envelope in the spool reaches its end and its rate counts only the work. ``report``: counted into
        as the run goes (its caller reads what was done when the run is interrupted)."""
        report = report if report is not None else ImportReport()
        self._vault.prepare()
        with ThreadPoolExecutor(self._threads, thread_name_prefix="import") as pool:
            self._walk(run, report, pool, step, settled or (lambda n: None))
        return report

    def _walk(self, run: ImportRun, report: ImportReport, pool: ThreadPoolExecutor,
              step: Callable[[int], None] | None, settled: Callable[[int], None]) -> None:
        batch: list[SpoolMessage] = []
        strips: list[tuple[str, SpoolMessage]] = []
        for mailbox in self._spool.mailboxes():
            report.mailboxes += 1
            messages, unusable = self._messages(mailbox, report)
            idle = unusable  # envelopes of this mailbox that need no work, told once per mailbox
            for message, known in messages:
                report.seen += 1
                if message.envelope.origtime >= run.cutoff:
                    report.left_to_live += 1
                    idle += 1
                elif known is None:
                    self._limit.wait()
                    batch.append(message)
                elif known[1] == SEALED:  # an interrupted run committed it and was stopped before the strip
                    strips.append((known[0], message))
                elif known[1] == STRIPPED:
                    report.already += 1
                    idle += 1
                elif known[1] == DISCOVERED:  # the live pipeline is taking it
                    report.left_to_live += 1
                    idle += 1
                else:  # vanished, destroyed: not ours to touch
                    report.already += 1
                    idle += 1
                if len(batch) + len(strips) >= self._batch_size:
                    self._flush(pool, batch, strips, run.notify, report, step)
                    batch, strips = [], []
            if idle:
                settled(idle)
        self._flush(pool, batch, strips, run.notify, report, step)

    def _messages(self, mailbox: MailboxRef, report: ImportReport
                  ) -> tuple[Iterator[tuple[SpoolMessage, tuple[str, str] | None]], int]:
        """The mailbox's messages with their state on record, and how many of its envelopes (msgNNNN.txt)
        are spool problems (counted in the spool's envelopes, never imported)."""
        scan = self._spool.scan(mailbox)
        report.problems += len(scan.problems)
        for problem in scan.problems:
            log.warning("spool entry left untouched: %s (%s)", problem.path, problem.reason)
        unusable = sum(1 for p in scan.problems if _is_envelope(p.path))
        known = self._store.states(mailbox)
        return ((message, known.get(message.envelope.msg_id)) for message in scan.messages), unusable

    def _seal(self, message: SpoolMessage) -> SealedImport | None:
        message_id = str(uuid.uuid4())
        try:  # renumbered or removed by Asterisk meanwhile (SpoolChanged): the next run looks again
            wrapped, sealed = seal_unsynced(self._spool, self._vault, self._keyring, message, message_id,
                                            IMPORT_ATTEMPT)
        except SpoolChanged:
            return None
        try:
            envelope = self._spool.read_envelope_bytes(message)
        except SpoolChanged:
            for rec in sealed:
                self._vault.delete(rec.blob_name)
            return None
        caller = Caller.external() if message.envelope_problem else self._classify(message.envelope)
        return SealedImport(message_id, message, caller, envelope, wrapped, sealed)

    def _flush(self, pool: ThreadPoolExecutor, found: list[SpoolMessage], strips: list[tuple[str, SpoolMessage]],
               notify: bool, report: ImportReport, step: Callable[[int], None] | None) -> None:
        """Seal ``found`` (several at once: the file operations overlap), commit, strip, commit."""
        if not found and not strips:
            return
        batch: list[SealedImport] = []
        for sealed in pool.map(self._seal, found):
            if sealed is None:
                report.vanished += 1
            else:
                batch.append(sealed)
        if batch:
            self._vault.sync()  # the blobs are durable before any row points to them
            self._fail.hit("import.before_commit")
            for lost in self._store.commit_sealed(batch, notify):  # the live pipeline took these meanwhile
                report.left_to_live += 1
                for rec in lost.recordings:
                    self._vault.delete(rec.blob_name)
                batch = [b for b in batch if b is not lost]
            self._fail.hit("import.after_commit")
        todo: list[tuple[str, SpoolMessage, dict[str, str] | None]] = [
            (b.message_id, b.message, {r.fmt: r.sha256 for r in b.recordings}) for b in batch]
        todo += [(message_id, message, None) for message_id, message in strips]
        swaps = swap_listings(self._spool, (message for _, message, _ in todo))  # one listing per folder
        done = pool.map(lambda job: self._strip(job[0], job[1], job[2], swaps.get((job[1].mailbox, job[1].folder))),
                        todo)
        stripped = [message_id for (message_id, _, _), ok in zip(todo, done, strict=True) if ok]
        self._spool.sync()  # the placeholders are durable before the strips are recorded
        self._store.mark_stripped(stripped, notify)
        fresh = {b.message_id for b in batch}
        report.imported += sum(1 for m in stripped if m in fresh)
        report.resumed_strips += sum(1 for m in stripped if m not in fresh)
        if step is not None:
            step(len(found) + len(strips))

    def _strip(self, message_id: str, message: SpoolMessage, hashes: dict[str, str] | None,
               swaps: frozenset[str] | None = None) -> bool:
        """Replace each sealed format by its placeholder; False when the message moved meanwhile (the
        row stays sealed, the live pipeline's sweeper or the next run strips it where it lies then).
        ``swaps``: the swap files of its folder, listed once for the batch."""
        if hashes is None:
            hashes = self._store.sealed_hashes(message_id)
        try:
            if not {audio.fmt for audio in message.audio} <= set(hashes):
                return False
            strip_unsynced(self._spool, message, hashes, swaps=swaps)
        except SpoolChanged:
            log.info("message %s moved while being stripped; it is stripped where it lies later", message_id)
            return False
        return True
