"""Wakes open inboxes when a message in one of their mailboxes changes (arrives, is sealed, is read).

An open inbox page holds one request (``GET /api/v1/me/new-messages?after=…&wait=…``) that returns as soon
as something changed in the viewer's mailboxes, or when its wait is over. While anyone waits, one task per
web process asks ``changed()`` every ``check_seconds`` (a single indexed query, whatever the number of
waiters) and wakes those whose mailboxes it names; with nobody waiting, it stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

from voicemail.domain.models import MailboxRef

log = logging.getLogger(__name__)


class MailboxChanges(Protocol):
    def changed(self) -> set[MailboxRef]: ...


class Watch:
    """One waiting request: set when one of its mailboxes changed."""

    def __init__(self, mailboxes: frozenset[MailboxRef]) -> None:
        self.mailboxes = mailboxes
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """True when woken by a change, False when ``timeout`` seconds passed first."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True


class NewMessageFeed:
    def __init__(self, changes: MailboxChanges, check_seconds: float = 1.0) -> None:
        self._changes = changes
        self._check = check_seconds
        self._watches: set[Watch] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def waiting(self) -> int:
        return len(self._watches)

    @contextmanager
    def watch(self, mailboxes: Iterable[MailboxRef]) -> Iterator[Watch]:
        """Register before reading the current state, so that nothing changing in between is missed."""
        w = Watch(frozenset(mailboxes))
        self._watches.add(w)
        loop = asyncio.get_running_loop()
        if self._ticker is None or self._ticker.done() or self._ticker.get_loop() is not loop:
            self._ticker = loop.create_task(self._tick())
        try:
            yield w
        finally:
            self._watches.discard(w)

    async def _tick(self) -> None:
        while self._watches:
            try:
                changed = await asyncio.to_thread(self._changes.changed)
            except Exception as exc:  # the database is away: open inboxes keep their wait, then ask again
                if not self._failing:
                    log.warning("checking for changed mailboxes failed (%s); retrying", type(exc).__name__)
                self._failing = True
                changed = set()
            else:
                if self._failing:
                    log.warning("checking for changed mailboxes works again")
                self._failing = False
            if changed:
                for w in list(self._watches):
                    if w.mailboxes & changed:
                        w.wake()
            await asyncio.sleep(self._check)
