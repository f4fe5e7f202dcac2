"""One retention run: destroy what is due, skip and count what is held, sign a destruction record.

The due messages are read a page (``page``, keyset on the message id) at a time, each page's holds
checked as it is read and checked again by the Shredder under its lock, so the run holds one page, not
the list of every due message (the signed record still names each destroyed message and key).

Safe to run twice at once: a database lease (``retention``) lets one run proceed and refuses the
other (LeaseBusy); and every step below it is idempotent (the Shredder resumes a half-shredded
message, a deleted row is not found again). A run killed half-way leaves no record of what it did
in this run's file, but every destruction is in the audit trail (``message.shred``), and the next run
finishes any message left ``shredding``.

With several sites, a message of another site than the one this process serves has its key destroyed
here (listed as destroyed) and the rest of its shredding handed to that site's workers, which reach its
Asterisk (voicemail.services.shred); one found already ``shredding`` is handed again and listed as
``already_destroyed``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from voicemail.audit.chain import AuditEvent
from voicemail.audit.signing import SigningKey
from voicemail.audit.store import AuditLog, utc_now_iso
from voicemail.domain.errors import VoicemailError
from voicemail.domain.ports import Shredder
from voicemail.lifecycle.lease import leased
from voicemail.lifecycle.planner import MESSAGE_CLASSES, DueMessage, Planner, iso
from voicemail.lifecycle.policy import AUDIT, CDRS, DAY, EVIDENCE, NOTIFICATIONS, RecordClass
from voicemail.lifecycle.records import canonical, sign_record, store_record
from voicemail.lifecycle.sweeps import count_due, sweep_cdrs, sweep_notifications, sweep_release_requests

log = logging.getLogger(__name__)

Progress = Callable[[int], Callable[[int], None]]


@dataclass(frozen=True)
class RunReport:
    record: dict[str, Any]  # the signed record
    path: Path | None
    destroyed: int
    held: int
    failed: int


class RetentionRunner:
    def __init__(self, engine: Engine, planner: Planner, shredder: Shredder, audit: AuditLog, key: SigningKey, *,
                 actor: str, source: str, records_dir: Path | None, audit_ship: Path | None = None,
                 workers: int = 8, batch: int = 500, page: int = 5000, clock_guard: Callable[[], None] | None = None,
                 after_run: Callable[[], object] | None = None) -> None:
        self._engine = engine
        self._planner = planner
        self._shredder = shredder
        self._audit = audit
        self._key = key
        self._actor = actor
        self._source = source
        self._records_dir = records_dir
        self._audit_ship = audit_ship
        self._workers = workers
        self._batch = batch
        self._page = page  # due messages read per query
        self._clock_guard = clock_guard
        self._after_run = after_run  # housekeeping that must never fail the run (logged)

    def run(self, *, progress: Progress | None = None) -> RunReport:
        """ClockSkewError (nothing destroyed) when ``clock_guard`` finds this host's clock untrustworthy."""
        if self._clock_guard is not None:
            self._clock_guard()
        with leased(self._engine, "retention", ttl=600.0) as lease:
            started = utc_now_iso()
            step = progress(self._count_due()) if progress else (lambda n: None)
            classes: list[dict[str, Any]] = []
            failed = held = 0
            for rc in MESSAGE_CLASSES:
                entry, f = self._messages(rc, step, lease.renew)
                failed += f
                held += entry["held_skipped"]
                classes.append(entry)
            classes.extend(self._rows())
            classes.append(self._audit_epochs())
            destroyed = sum(len(c["ids"]) for c in classes)
            record_id = str(uuid.uuid4())
            body: dict[str, Any] = {
                "id": record_id, "created_at": utc_now_iso(), "started_at": started,
                "clock": iso(self._planner.now()), "actor": self._actor, "source": self._source,
                "classes": classes, "totals": {"destroyed": destroyed, "held_skipped": held, "failed": failed},
            }
            signed = sign_record(self._key, body)
            path = store_record(self._engine, signed, self._records_dir)
            self._audit.append(AuditEvent(
                actor=self._actor, action="retention.run", source=self._source, outcome="ok" if not failed else "error",
                details={"record": record_id, "record_sha256": hashlib.sha256(canonical(body)).hexdigest(),
                         "destroyed": destroyed, "held_skipped": held, "failed": failed}))
        log.info("retention run %s: %d destroyed, %d held (skipped), %d failed", record_id, destroyed, held, failed)
        if self._after_run is not None:
            try:
                self._after_run()
            except Exception as exc:
                log.error("retention housekeeping after run %s failed: %s", record_id, type(exc).__name__)
        return RunReport(signed, path, destroyed, held, failed)

    def _shred(self, item: DueMessage, reason: str) -> str:
        try:
            return self._shredder.shred(item.id, actor=self._actor, source=self._source, reason=reason)
        except VoicemailError as exc:  # e.g. Asterisk unreachable: the row stays "shredding", next run ends it
            log.error("retention: message %s not fully destroyed yet: %s", item.id, type(exc).__name__)
            return "failed"

    def _count_due(self) -> int:
        """How many messages may be destroyed now (the progress bar's total), counted page by page."""
        total = 0
        for rc in MESSAGE_CLASSES:
            summary = self._planner.summary(rc)
            total += summary.due_now + summary.due_later  # due_later: left "shredding", due before its age
        return total

    def _messages(self, rc: RecordClass, step: Callable[[int], None],
                  renew: Callable[[], None]) -> tuple[dict[str, Any], int]:
        """Shred the due messages of ``rc`` page by page, ``workers`` at a time: each shred is a few short
        transactions and audit appends, which the audit log group-commits across threads. Held ones are
        counted, not kept."""
        now = self._planner.now()
        period_days = self._planner.policy.days[rc.name]
        ids: list[str] = []
        keys: list[dict[str, str | None]] = []
        already: list[str] = []
        held = failed = 0
        reason = f"retention: {rc.name} older than {period_days} days"
        with ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="retention") as pool:
            for page in self._planner.due_pages(rc, now, batch=self._page):
                due = [item for item, destroyable in page if destroyable]
                held += len(page) - len(due)
                del page
                for start in range(0, len(due), self._batch):
                    chunk = due[start:start + self._batch]
                    for item, outcome in zip(chunk, pool.map(lambda d: self._shred(d, reason), chunk), strict=True):
                        if outcome == "started" and item.kek_id is None:  # key destroyed before; handed again
                            already.append(item.id)
                        elif outcome in ("destroyed", "started"):  # started: another site removes its envelope
                            ids.append(item.id)
                            keys.append({"message_id": item.id, "kek_id": item.kek_id,
                                         "wrapped_key_sha256": item.wrapped_key_sha256})
                        elif outcome == "held":  # a hold placed since the page was read
                            held += 1
                        elif outcome == "already":
                            already.append(item.id)
                        else:
                            failed += 1
                        step(1)
                    renew()
        return {"class": rc.name, "period_days": period_days, "cutoff": iso(now - self._planner.policy.period(rc)),
                "count": len(ids), "ids": ids, "keys_destroyed": keys, "held_skipped": held,
                "already_destroyed": already, "failed": failed}, failed

    def _rows(self) -> list[dict[str, Any]]:
        out = []
        cutoffs = self._planner.cutoffs()
        for name, sweep in ((CDRS.name, sweep_cdrs), (NOTIFICATIONS.name, sweep_notifications),
                            (EVIDENCE.name, sweep_release_requests)):
            days, cutoff = cutoffs[name]
            ids = sweep(self._engine, cutoff, batch=self._batch)
            out.append({"class": name, "period_days": days, "cutoff": cutoff, "count": len(ids), "ids": ids,
                        "held_skipped": 0, "failed": 0})
        return out

    def _audit_epochs(self) -> dict[str, Any]:
        days = self._planner.policy.days[AUDIT.name]
        cutoff = iso(self._planner.now() - days * DAY)
        cp = self._audit.seal_epoch(self._key, cutoff, ship_to=self._audit_ship)
        return {"class": AUDIT.name, "period_days": days, "cutoff": cutoff, "count": 0, "ids": [],
                "held_skipped": 0, "failed": 0, "sealed_through_seq": cp.seq if cp else None,
                "epoch_checkpoint_hash": cp.head_hash if cp else None}


def plan_lines(planner: Planner, *, within_days: int = 0, show_ids: bool = False) -> Iterator[str]:
    """What `voicemail retention plan` prints, line by line: per class, what is due now (and within N days),
    and when. Counted batch by batch (``--ids`` streams the ids, earliest due first): the memory it takes
    does not grow with the number of messages."""
    now = planner.now()
    yield f"retention plan at {iso(now)}" + (f" (and the next {within_days} days)" if within_days else "")
    for rc in MESSAGE_CLASSES:
        summary = planner.summary(rc, within_days=within_days)
        yield (f"  {summary.record_class:<18} keep {summary.period_days} days: {summary.due_now} due now, "
               f"{summary.due_later} due later, {summary.held} held (skipped)")
        if summary.next_due is not None:
            yield f"    next due: {dt.datetime.fromtimestamp(summary.next_due, dt.UTC):%Y-%m-%d %H:%M} UTC"
        if show_ids:
            for d in planner.due_by_date(rc, within_days=within_days):
                yield f"    {d.id}  {d.mailbox.qualified}  due {dt.datetime.fromtimestamp(d.due_at, dt.UTC):%Y-%m-%d}"
    for name, (days, cutoff) in planner.cutoffs().items():
        count = count_due(planner.engine, name, cutoff)
        yield f"  {name:<18} keep {days} days: {count} due now (recorded before {cutoff})"
    audit_days = planner.policy.days[AUDIT.name]
    yield (f"  {AUDIT.name:<18} keep {audit_days} days: events before {iso(now - audit_days * DAY)} are "
           "sealed by a signed epoch checkpoint and removed")
