"""Discovery: find messages in the spool that we do not hold yet, and hand them to custody."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from voicemail.domain.models import Caller, Envelope, MailboxRef, SpoolMessage, SpoolProblem
from voicemail.domain.ports import MessageStore, Spool

log = logging.getLogger(__name__)


class BatchRecorder(Protocol):
    def record_discovered_many(self, items: Sequence[tuple[SpoolMessage, Caller, bytes]]) -> list[str] | None: ...


@dataclass
class ScanReport:
    mailboxes: int = 0
    seen: int = 0
    new: int = 0
    swaps_removed: int = 0  # leftovers of interrupted strips that held only what is sealed
    left_to_import: int = 0  # older than an unfinished `voicemail import` run's cutoff: that run takes them
    forwards_dropped: int = 0  # forwarded copies Asterisk never made, removed with their sealed copy
    problems: list[SpoolProblem] = field(default_factory=list)
    # messages in custody whose .txt the envelope parser refuses (caller treated as unknown), every scan
    envelopes_refused: list[SpoolProblem] = field(default_factory=list)

    def add(self, other: ScanReport) -> None:
        self.mailboxes += other.mailboxes
        self.seen += other.seen
        self.new += other.new
        self.swaps_removed += other.swaps_removed
        self.left_to_import += other.left_to_import
        self.problems.extend(other.problems)
        self.envelopes_refused.extend(other.envelopes_refused)


class ForwardArrivals(Protocol):
    """Forwarded copies on their way into a mailbox (``voicemail.services.forward.Forwarder``)."""

    def waiting(self, mailbox: MailboxRef) -> dict[str, str]: ...

    def arrived(self, message_id: str, found: SpoolMessage) -> str | None: ...

    def settle_stale(self) -> int: ...


class Discovery:
    """Spool scan -> one ``discovered`` row per new msg_id -> ``on_new(message_id)`` (enqueue seal), or, with
    ``on_new_batch``, the rows of up to ``batch_size`` new messages of a mailbox recorded in one transaction
    and handed over at once (one custody task for them all).

    Safe to run concurrently and repeatedly: the row insert is idempotent on (mailbox, msg_id). A hand-over
    that fails (the broker is down) does not fail the scan: the recorded row is the work, and the sweeper
    enqueues it once it has waited stale_after.

    While a `voicemail import` run is unfinished (running, interrupted or killed, until it is run again
    to its end), ``import_cutoff()`` gives its cutoff: messages recorded before it are that run's to take
    (sealed in batches and, unless it announces them, not notified), so the scan leaves them alone.
    """

    def __init__(self, spool: Spool, store: MessageStore, classify: Callable[[Envelope], Caller],
                 on_new: Callable[[str], None], import_cutoff: Callable[[], int | None] | None = None, *,
                 on_new_batch: Callable[[list[str]], None] | None = None, batch_store: BatchRecorder | None = None,
                 batch_size: int = 50) -> None:
        self._spool = spool
        self._store = store
        self._classify = classify
        self._on_new = on_new
        self._import_cutoff = import_cutoff
        # forwarding: a forwarded copy's placeholder is linked to its sealed copy, never sealed itself
        self.forwards: ForwardArrivals | None = None
        self._on_new_batch = on_new_batch
        self._batch_store = batch_store
        self._batch_size = max(1, batch_size)

    def scan(self, mailbox: MailboxRef) -> ScanReport:
        report = ScanReport(mailboxes=1)
        report.swaps_removed = self._spool.clear_swap_leftovers(mailbox, lambda: self._store.sealed_sha256s(mailbox))
        if report.swaps_removed:
            log.warning("removed %d swap file(s) an interrupted strip left in %s (each held a sealed recording "
                        "or a placeholder)", report.swaps_removed, mailbox)
        result = self._spool.scan(mailbox)
        report.problems.extend(result.problems)
        for problem in result.problems:
            log.warning("spool entry left untouched: %s (%s)", problem.path, problem.reason)
        known = self._store.known_msg_ids(mailbox)
        cutoff = self._import_cutoff() if self._import_cutoff is not None else None
        forwarded = self.forwards.waiting(mailbox) if self.forwards is not None else {}
        fresh: list[tuple[SpoolMessage, bytes | None]] = []  # with its envelope bytes, when read already
        for message in result.messages:
            report.seen += 1
            if message.envelope_problem:
                report.envelopes_refused.append(SpoolProblem(message.txt_path, message.envelope_problem))
            if message.envelope.msg_id in forwarded and self.forwards is not None:
                self.forwards.arrived(forwarded[message.envelope.msg_id], message)
                continue
            if message.envelope.msg_id in known:
                continue
            envelope, placeholder_only = self._look(message)
            if placeholder_only:
                # e.g. Asterisk's own forward of a message in custody: it copied our placeholder, not audio
                problem = SpoolProblem(message.txt_path, "only a placeholder (silence), no recording: a copy of a "
                                                         "message in custody made outside the web inbox")
                report.problems.append(problem)
                log.warning("spool entry left untouched: %s (%s)", problem.path, problem.reason)
                continue
            if cutoff is not None and message.envelope.origtime < cutoff:
                report.left_to_import += 1
                continue
            fresh.append((message, envelope))
        for start in range(0, len(fresh), self._batch_size):
            self._record(mailbox, fresh[start:start + self._batch_size], report)
        if report.left_to_import:
            log.info("%d message(s) in %s left to the unfinished spool import", report.left_to_import, mailbox)
        return report

    def _look(self, message: SpoolMessage) -> tuple[bytes | None, bool]:
        """The envelope bytes (None: read again when recorded) and whether the message holds only
        placeholders, in one look at its folder."""
        try:
            return self._spool.envelope_and_placeholders(message)
        except Exception:  # unreadable now: custody decides (and reports) as for any new message
            return None, False

    def _record(self, mailbox: MailboxRef, found: list[tuple[SpoolMessage, bytes | None]], report: ScanReport) -> None:
        """Record the new messages (one transaction for the lot when batching) and hand them over."""
        # custody never depends on the caller fields: a refused envelope is sealed like any other,
        # its caller announced as an unknown outside caller
        messages = [m for m, _ in found]
        items = [(m, Caller.external() if m.envelope_problem else self._classify(m.envelope),
                  envelope if envelope is not None else self._spool.read_envelope_bytes(m)) for m, envelope in found]
        ids = self._batch_store.record_discovered_many(items) if self._batch_store and self._on_new_batch else None
        if ids is None:  # one by one (also when one of them is on record already, or is back after vanishing)
            created = [(message, *self._store.record_discovered(message, caller, envelope))
                       for message, caller, envelope in items]
            ids = [message_id for _, message_id, new in created if new]
            recorded = [message for message, _, new in created if new]
        else:
            recorded = messages
        for message, message_id in zip(recorded, ids, strict=True):
            report.new += 1
            log.info("discovered message %s in %s", message_id, mailbox)
            if message.envelope_problem:
                log.warning("message %s in %s: the envelope parser refused its .txt (%s); its audio is "
                            "taken into custody and its caller treated as unknown", message_id, mailbox,
                            message.envelope_problem)
        if not ids:
            return
        try:
            if self._on_new_batch is not None:
                self._on_new_batch(ids)
            else:
                for message_id in ids:
                    self._on_new(message_id)
        except Exception as exc:  # broker down: the rows are recorded, the sweeper hands them over later
            log.warning("%d message(s) recorded but not handed to the workers (%s); the sweeper will",
                        len(ids), type(exc).__name__)

    def reconcile(self, extra_mailboxes: Iterable[MailboxRef] = (),
                  progress: Callable[[int], Callable[[int], None]] | None = None) -> ScanReport:
        """A full pass over every mailbox in the spool (plus any Asterisk told us about). ``progress`` is
        called with the number of mailboxes and returns a function told of each one done."""
        report = ScanReport()
        mailboxes = sorted(set(self._spool.mailboxes()) | set(extra_mailboxes))
        step = progress(len(mailboxes)) if progress is not None else None
        for mailbox in mailboxes:
            report.add(self.scan(mailbox))
            if step is not None:
                step(1)
        if self.forwards is not None:
            try:
                report.forwards_dropped = self.forwards.settle_stale()
            except Exception as exc:  # never fails the reconciliation; the next one tries again
                log.warning("settling forwarded copies left on their way failed: %s", type(exc).__name__)
        return report
