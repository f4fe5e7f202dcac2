"""`voicemail run`: the AMI listener and the sweeper, plus (embedded transport) an in-process worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import Any

from voicemail.ami.client import AmiClient
from voicemail.ami.listener import Listener
from voicemail.app import Container, build_container, build_hotdesk, build_phone_menu, check_first_start, tls_context
from voicemail.audit.cdr import CdrStore
from voicemail.config import Settings, serving_site
from voicemail.db.listener_lease import LeaseFence, LeaseStore
from voicemail.observe.runtime import ListenerRuntime
from voicemail.phone.driver import MenuDriver
from voicemail.phone.wiring import Hotdesk, run_hotdesk_expiry
from voicemail.services.listener_lease import ListenerLease
from workers.celery_app import configure
from workers.embedded import EmbeddedWorker
from workers.runtime import install
from workers.tasks import enqueue_custody, enqueue_finish_shred, enqueue_seal, sweep_once

log = logging.getLogger(__name__)


@dataclass
class Service:
    settings: Settings
    container: Container
    client: AmiClient
    listener: Listener
    worker: EmbeddedWorker | None
    web: Any = None  # --- web: voicemail.web.server.EmbeddedServer, served beside the listener ---
    phone: MenuDriver | None = None  # --- telephone menu: answers AGI(agi:async,voicemail-menu) calls ---
    hotdesk: Hotdesk | None = None  # --- extension mobility: signs out expired sign-ins ---
    lease: ListenerLease | None = None  # --- the site's listener lease: listen only while holding it ---

    async def _sweeper(self) -> None:
        loop = asyncio.get_running_loop()
        next_gc = loop.time() + self.settings.reconcile_interval
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                await asyncio.to_thread(sweep_once)
                if loop.time() >= next_gc:
                    next_gc = loop.time() + self.settings.reconcile_interval
                    await asyncio.to_thread(self.container.collect_vault_orphans)
            except Exception:
                log.exception("sweep failed")

    async def run(self, stop: asyncio.Event) -> None:
        """Stand by until this process holds the site's listener lease, then listen until ``stop`` is set;
        raises ListenerLeaseLost when the lease is lost (the process then exits and comes back as stand-by)."""
        web_task = asyncio.create_task(self.web.serve(), name="web") if self.web is not None else None  # web
        try:
            if self.lease is not None:
                acquire = asyncio.create_task(self.lease.wait_acquired(), name="lease")
                waiter = asyncio.create_task(self._wait(stop))
                await asyncio.wait([acquire, waiter], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if not acquire.done():
                    acquire.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await acquire
                    return
            await self._listen(stop, web_task)
        finally:
            if web_task is not None and not web_task.done():  # --- web: graceful stop, in-flight requests end ---
                self.web.should_exit = True
                await asyncio.wait({web_task}, timeout=10)
                if not web_task.done():
                    web_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await web_task

    async def _listen(self, stop: asyncio.Event, web_task: asyncio.Task[Any] | None) -> None:
        if self.phone is not None:
            self.phone.start()
        if self.container.moves is not None:  # moves left pending by an earlier run: the first sweep is now
            self.container.moves.start()
        tasks = [asyncio.create_task(self.listener.run(), name="listener"),
                 asyncio.create_task(self._sweeper(), name="sweeper")]
        if self.lease is not None:
            tasks.append(asyncio.create_task(self.lease.keep(), name="lease"))
        s = self.settings
        if self.hotdesk is not None and s.hotdesk_max_hours > 0:  # --- extension mobility ---
            tasks.append(asyncio.create_task(run_hotdesk_expiry(*self.hotdesk, s.hotdesk_check_interval),
                                             name="hotdesk-expiry"))
        if s.ldap_url and s.ldap_sync_interval > 0 and not s.broker_url:  # no `voicemail beat`: we are the schedule
            from voicemail.directory.operations import run_sync_schedule

            tasks.append(asyncio.create_task(run_sync_schedule(s, self.container.engine), name="directory-sync"))
        waiter = asyncio.create_task(self._wait(stop))
        done, _ = await asyncio.wait([*tasks, *([web_task] if web_task else []), waiter],
                                     return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in done:
            error = None if task is waiter or task is web_task or task.cancelled() else task.exception()
            if error is not None:
                raise error

    @staticmethod
    async def _wait(stop: asyncio.Event) -> None:
        await stop.wait()

    async def close(self) -> None:
        if self.lease is not None and self.lease.held():  # a clean stop: the stand-by need not wait for expiry
            await self.client.close()
            await asyncio.to_thread(self.lease.release)
        if self.phone is not None:  # calls in progress end; their staging files are removed
            await self.phone.close()
        await self.client.close()
        if self.worker is not None:
            self.worker.stop()
        self.container.close()


def build_service(settings: Settings, *, first_start_guard: bool = False) -> Service:
    """``first_start_guard``: check the site's spool for a backlog never taken into custody first
    (check_first_start; `voicemail run` without --announce-existing) and raise FirstStartBacklog."""
    configure(settings)
    leases: list[ListenerLease] = []

    def submit(message_id: str) -> None:  # a custody task is handed over only under the current lease
        for lease in leases:
            lease.fence()
        enqueue_seal(message_id)

    def submit_batch(message_ids: list[str]) -> None:  # one custody task for what one scan discovered
        for lease in leases:
            lease.fence()
        enqueue_custody(message_ids)

    # what the listener writes (discovered messages, mailbox owners, CDRs) is refused by the database, in the
    # write's own transaction, unless this process's lease token is still the current one
    fence = LeaseFence(serving_site(settings), lambda: leases[0].held_token() if leases else None)
    # another site's shreds go to its workers; without a broker its own `voicemail run` finishes them
    container = build_container(settings, on_new=submit, on_new_batch=submit_batch,
                                on_shred_elsewhere=enqueue_finish_shred if settings.broker_url else None,
                                fence=fence)
    if first_start_guard:
        try:
            check_first_start(container)
        except BaseException:
            container.close()
            raise
    lease = ListenerLease(LeaseStore(container.engine), serving_site(settings),
                          duration=settings.listener_lease_seconds, renew_every=settings.listener_renew_seconds)
    leases.append(lease)
    install(container)
    worker = None
    if not settings.broker_url:
        worker = EmbeddedWorker(configure(settings))
        worker.start()
    client = AmiClient(settings.ami_host, settings.ami_port, settings.ami_username, settings.ami_secret,
                       ssl=tls_context(settings),  # type: ignore[arg-type]
                       ping_interval=settings.ami_ping_interval, gate=lease.held)
    # the calls of this listener's Asterisk; not fenced: AMI never sends an event twice, and only a process
    # whose own view holds the lease receives events (the client's gate), so a refused one would be lost
    cdrs = CdrStore(container.engine, serving_site(settings))
    listener = Listener(client, container.discovery, container.store.upsert_mailbox,
                        reconcile_interval=settings.reconcile_interval,
                        on_cdr=cdrs.ingest, retry_max=settings.discovery_retry_max,
                        fence=lease.fence)
    # The telephone menu and hot-desking answer the calls of the Asterisk this process listens to: its
    # callers reach that site's mailboxes, its AstDB routes the hot-desk sign-ins.
    menu = settings.phone_menu
    hotdesk = build_hotdesk(container, client) if menu and settings.hotdesk_enabled else None
    phone = build_phone_menu(container, client, hotdesk) if menu else None
    return Service(settings, container, client, listener, worker, phone=phone, hotdesk=hotdesk, lease=lease)


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_service(settings: Settings, *, web: bool = False, announce_existing: bool = False) -> None:
    """``announce_existing``: skip the first-start backlog check (check_first_start) for this start."""
    service = build_service(settings, first_start_guard=not announce_existing)
    stop = asyncio.Event()
    install_stop_signals(stop)
    # the listener's figures for /metrics, /operations
    runtime = ListenerRuntime(service.client, service.listener, service.lease)
    metrics = None
    try:
        if settings.metrics_port:  # /metrics of the listener on its own port (also with --no-web)
            from voicemail.observe.metrics_server import serve_metrics

            metrics = serve_metrics(service.container.engine, settings, runtime)
        if web:  # --- web: the web app beside the listener (`voicemail run` without --no-web) ---
            from voicemail.web.server import embedded_server

            service.web = embedded_server(service.container, ami_connected=lambda: service.client.connected,
                                          runtime=runtime)
        await service.run(stop)
    finally:
        if metrics is not None:
            metrics.stop()
        await service.close()
