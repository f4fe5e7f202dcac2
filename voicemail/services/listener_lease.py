"""One active AMI listener per site: take, keep and fence the site's lease.

A process that cannot take the lease is a stand-by: it says so once and tries again every
``renew_every`` seconds. The holder renews every ``renew_every`` seconds. Its own view of the lease is
kept on this host's monotonic clock and is deliberately shorter than the database's: it runs from the
moment a renewal was *sent* (the database computes the expiry later, when it executes it), minus a
margin. So the holder stops acting before the database lets a stand-by in, and a holder that was frozen
(SIGSTOP, a VM pause) finds its view expired the moment it runs again, before it can act. Work it submits
is fenced: ``fence()`` asks the database whether its token still holds the lease, and the listener's writes
check ``held_token()`` again inside their own transactions, where no stand-by can take the lease between the
check and the commit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from typing import Protocol

from voicemail.domain.errors import ListenerLeaseLost

log = logging.getLogger(__name__)


class LeasePort(Protocol):
    def acquire(self, site: str, holder: str, seconds: float) -> int | None: ...
    def renew(self, site: str, holder: str, token: int, seconds: float) -> bool: ...
    def release(self, site: str, holder: str, token: int) -> None: ...
    def is_current(self, site: str, token: int) -> bool: ...


def holder_id() -> str:
    """This process: host, pid and a random part (a restarted process with a reused pid is a new holder)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


class ListenerLease:
    def __init__(self, store: LeasePort, site: str, *, duration: float, renew_every: float,
                 holder: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self.site = site
        self.holder = holder or holder_id()
        self._duration = duration
        self._renew_every = renew_every
        self._margin = min(1.0, duration / 10)
        self._clock = clock
        self.token: int | None = None
        self._valid_until = 0.0
        self._db_down = False

    def held(self) -> bool:
        """This process may act as the site's listener now (its own, conservative view)."""
        return self.token is not None and self._clock() < self._valid_until

    def held_token(self) -> int | None:
        """Our fencing token while we may act (``held``), else None: what the fence inside the listener's
        writes checks against the database (voicemail.db.listener_lease.LeaseFence)."""
        return self.token if self.held() else None

    def fence(self) -> None:
        """Raise ListenerLeaseLost unless the database still counts our token as the lease's (blocking)."""
        token = self.token
        if token is None or not self.held() or not self._store.is_current(self.site, token):
            raise ListenerLeaseLost(f"listener lease of site {self.site!r} lost (token {token})")

    async def _try(self, call: Callable[[], object]) -> object:
        """``call()`` in a thread; None when the database failed (logged once per outage, and its end once)."""
        try:
            result = await asyncio.to_thread(call)
        except Exception as exc:
            if not self._db_down:
                log.warning("listener lease of site %r: the database did not answer (%s); retrying every %g s",
                            self.site, type(exc).__name__, self._renew_every)
            self._db_down = True
            return None
        if self._db_down:
            log.warning("listener lease of site %r: the database answers again", self.site)
            self._db_down = False
        return result

    async def wait_acquired(self) -> int:
        """Poll until the lease is ours; log stand-by once. Returns the fencing token."""
        said = False
        while True:
            sent = self._clock()
            token = await self._try(lambda: self._store.acquire(self.site, self.holder, self._duration))
            if isinstance(token, int):
                self.token = token
                self._valid_until = sent + self._duration - self._margin
                log.info("listener lease of site %r taken (fencing token %d); listening", self.site, token)
                return token
            if not said and not self._db_down:  # the database answered: someone else holds it
                log.info("stand-by for site %r: another process holds the listener lease; taking over when "
                         "it lapses (checked every %g s)", self.site, self._renew_every)
                said = True
            await asyncio.sleep(self._renew_every)

    async def keep(self) -> None:
        """Renew until the lease is lost (superseded, or not renewed in time); then raise ListenerLeaseLost."""
        token = self.token
        if token is None:
            raise ListenerLeaseLost("the listener lease was never taken")
        while True:
            await asyncio.sleep(max(0.0, min(self._renew_every, self._valid_until - self._clock())))
            if not self.held():
                break
            sent = self._clock()
            renewed = await self._try(lambda: self._store.renew(self.site, self.holder, token, self._duration))
            if renewed is True:
                self._valid_until = sent + self._duration - self._margin
            elif renewed is False:
                break
        self.token = None
        log.error("listener lease of site %r lost (fencing token %d): stepping down", self.site, token)
        raise ListenerLeaseLost(f"listener lease of site {self.site!r} lost")

    def release(self) -> None:
        """Give the lease up on a clean stop, so that a stand-by takes over at its next poll."""
        token, self.token = self.token, None
        if token is not None:
            try:
                self._store.release(self.site, self.holder, token)
            except Exception as exc:
                log.warning("listener lease of site %r not released (%s); it lapses by itself", self.site,
                            type(exc).__name__)
