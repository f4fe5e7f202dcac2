"""The AMI listener: MessageWaiting -> look at that mailbox; reconcile on every (re)connect.

Bursts are coalesced: events only mark a mailbox dirty, and a single drain loop scans dirty
mailboxes after a short pause. ``New:`` counts are never trusted (they are full recounts and can
arrive out of order under load, capture q7c); the spool is always re-read.

A scan or reconciliation that fails (the database is down) is never dropped: the mailbox stays dirty and
the drain loop wakes itself again after a backoff (doubling from ``retry_first`` up to ``retry_max``
seconds) until it succeeds, logging the outage once and its end once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from voicemail.ami.actions import parse_message_waiting, voicemail_users_list
from voicemail.ami.client import AmiClient
from voicemail.ami.parser import AmiMessage
from voicemail.domain.errors import InvalidInput, ListenerLeaseLost
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import MailboxOwner
from voicemail.services.discovery import Discovery, ScanReport

log = logging.getLogger(__name__)
_A = TypeVar("_A")


class Listener:
    def __init__(self, client: AmiClient, discovery: Discovery,
                 save_owner: Callable[[MailboxOwner], None], *,
                 debounce: float = 0.05, reconcile_interval: float = 300.0,
                 on_cdr: Callable[[AmiMessage], object] | None = None,
                 retry_first: float = 0.5, retry_max: float = 30.0,
                 fence: Callable[[], None] | None = None) -> None:
        self._client = client
        # called (in a worker thread) before every scan and reconciliation; raises when this process's listener
        # lease is no longer the current one, so a stale listener records and hands over nothing (the stores'
        # own fence refuses a write that a stand-by overtook after this check: ListenerLeaseLost as well)
        self._fence = fence
        self._on_cdr = on_cdr  # store AMI Cdr events (voicemail.audit.cdr.CdrStore.ingest)
        self._discovery = discovery
        self._save_owner = save_owner
        self._debounce = debounce
        self._reconcile_interval = reconcile_interval
        self._dirty: set[MailboxRef] = set()
        self._wake = asyncio.Event()
        self._known: set[MailboxRef] = set()
        self.reconciliations = 0
        self.last_report: ScanReport | None = None
        self.last_reconciled_at: float | None = None  # epoch seconds of the last completed pass
        self._cdr_tasks: set[asyncio.Task[None]] = set()
        self._retry_first = retry_first
        self._retry_max = max(retry_max, retry_first)
        self._failures = 0  # failed drain passes in a row (0 = healthy)
        self._full_due = False  # a reconciliation failed and is owed
        self._retry_timer: asyncio.TimerHandle | None = None

    async def _store_cdr(self, message: AmiMessage) -> None:
        assert self._on_cdr is not None
        try:
            await asyncio.to_thread(self._on_cdr, message)
        except Exception as exc:
            log.error("storing a Cdr event failed (%s); it is lost", type(exc).__name__)

    def on_event(self, message: AmiMessage) -> None:
        if self._on_cdr is not None and message.get("Event") == "Cdr":
            # stored off the event loop: a slow or unavailable database must not stall the AMI reader
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # called outside the listener's loop (tests, tools): store inline
                self._on_cdr(message)
                return
            task = loop.create_task(self._store_cdr(message))
            self._cdr_tasks.add(task)
            task.add_done_callback(self._cdr_tasks.discard)
            return
        waiting = parse_message_waiting(message)
        if waiting is None:
            return
        try:
            mailbox = MailboxRef.parse(waiting.mailbox)
        except InvalidInput:
            log.warning("MessageWaiting for an invalid mailbox name ignored")
            return
        self._dirty.add(mailbox)
        self._wake.set()

    async def on_connect(self, client: AmiClient) -> None:
        """After every (re)connect: refresh the mailbox list, then a full reconciliation pass."""
        try:
            users = await voicemail_users_list(client)
        except Exception as exc:
            log.warning("VoicemailUsersList failed (%s); reconciling from the spool only", type(exc).__name__)
            users = []
        refused = False
        for user in users:
            try:
                ref = MailboxRef(user.context, user.mailbox)
            except InvalidInput:
                continue
            self._known.add(ref)  # every mailbox is scanned, also when its owner could not be saved
            if refused:
                continue
            try:
                await asyncio.to_thread(self._save_owner, MailboxOwner(ref, user.fullname, user.email or ""))
            except ListenerLeaseLost:  # the reconciliation below is refused too; the lease keeper steps down
                log.warning("mailbox owners not saved: this process no longer holds the listener lease")
                refused = True
            except Exception:
                log.exception("saving mailbox %s failed", ref)
        try:
            await self.reconcile()
        except Exception as exc:
            self._owe_reconciliation(exc)

    def _owe_reconciliation(self, exc: BaseException) -> None:
        log.warning("reconciliation failed (%s); retried with backoff", type(exc).__name__)
        self._full_due = True
        self._wake.set()

    async def reconcile(self) -> ScanReport:
        report = await asyncio.to_thread(self._fenced, self._discovery.reconcile, tuple(self._known))
        self.reconciliations += 1
        self.last_report = report
        self.last_reconciled_at = time.time()
        log.info("reconciliation: %d mailbox(es), %d message(s) seen, %d new, %d problem(s)",
                 report.mailboxes, report.seen, report.new, len(report.problems))
        return report

    def _fenced(self, work: Callable[[_A], ScanReport], arg: _A) -> ScanReport:
        if self._fence is not None:
            self._fence()
        return work(arg)

    async def _drain(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._debounce)
            self._wake.clear()
            error = await self._drain_once()
            if error is None:
                if self._failures:
                    log.warning("mailbox scans work again after %d failed attempt(s)", self._failures)
                self._failures = 0
                continue
            self._failures += 1
            delay = min(self._retry_max, self._retry_first * 2 ** (self._failures - 1))
            if self._failures == 1:
                log.error("scanning mailboxes failed (%s); retrying with backoff (up to every %g s) until it "
                          "works; no mailbox is forgotten", type(error).__name__, self._retry_max)
            if self._retry_timer is not None:
                self._retry_timer.cancel()
            self._retry_timer = asyncio.get_running_loop().call_later(delay, self._wake.set)

    async def _drain_once(self) -> BaseException | None:
        """One pass: an owed reconciliation, then every dirty mailbox. Returns the last error, if any."""
        error: BaseException | None = None
        if self._full_due:
            try:
                await self.reconcile()
                self._full_due = False
            except Exception as exc:
                error = exc
        dirty, self._dirty = self._dirty, set()
        for mailbox in sorted(dirty):
            if error is not None:  # the database is down: keep the rest for the next pass
                self._dirty.add(mailbox)
                continue
            try:
                await asyncio.to_thread(self._fenced, self._discovery.scan, mailbox)
            except Exception as exc:
                self._dirty.add(mailbox)
                error = exc
        return error

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self._reconcile_interval)
            try:
                await self.reconcile()
            except Exception as exc:
                self._owe_reconciliation(exc)

    async def run(self) -> None:
        self._client.subscribe(self.on_event)
        await asyncio.gather(self._client.run_forever(on_connect=self.on_connect), self._drain(), self._periodic())
