"""The Directory port served from the synced copy in the database (LDAP sites).

``lookup`` normalises the number with the site's number plan and finds the one active user (enabled in
the directory and still returned by it) holding that key. A number two active users share is ambiguous
and resolves to nobody. The copy is trusted only while it is fresh: if no sync has succeeded within
``max_age`` seconds (the directory has been unreachable for that long, or was never synced), or the number
plan changed since the last sync, lookups raise DirectoryUnavailable, which the classifier turns into
"external" (fail closed). Lookups never log numbers or names; a change of trust (stale / fresh again) is
logged once, with the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from voicemail.directory.errors import DirectoryUnavailable
from voicemail.directory.plan import NumberPlan
from voicemail.directory.records import SyncState
from voicemail.domain.models import DirectoryEntry

log = logging.getLogger(__name__)

class DirectoryReader(Protocol):
    def state(self) -> SyncState | None: ...

    def active_by_number(self, key: str) -> list[tuple[str, str]]: ...


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DbDirectory:
    def __init__(self, store: DirectoryReader, plan: NumberPlan, *, max_age: float | None,
                 clock: Callable[[], dt.datetime] = _utcnow, state_ttl: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """``max_age`` None = never stale (for looking up mailbox owners' addresses, not for deciding
        who is internal). While fresh, the sync state is re-read at most every ``state_ttl`` seconds."""
        self._store = store
        self._plan = plan
        self._max_age = max_age
        self._clock = clock
        self._state_ttl = state_ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._fresh_until: float | None = None  # monotonic time until which the copy is known fresh
        self._stale_logged = False

    @property
    def plan(self) -> NumberPlan:
        return self._plan

    def owners(self) -> DbDirectory:
        """The same copy without the freshness limit: a mailbox owner's e-mail address from the last
        sync is still the best address to notify, even when the directory is down."""
        return DbDirectory(self._store, self._plan, max_age=None, clock=self._clock, state_ttl=self._state_ttl,
                           monotonic=self._monotonic)

    def lookup(self, number: str) -> DirectoryEntry | None:
        key = self._plan.key(number)
        if key is None:
            return None
        self.check_fresh()
        found = self._store.active_by_number(key)
        if len(found) != 1:
            return None
        name, email = found[0]
        return DirectoryEntry(number=key, name=name, email=email)

    def check_fresh(self) -> None:
        """DirectoryUnavailable when the synced copy may not be trusted (see the module docstring).

        A "fresh" verdict is remembered for ``state_ttl`` seconds (never past the moment the copy turns
        too old); a "stale" one is not, so the first lookup after a successful sync trusts it again."""
        if self._max_age is None:
            return
        with self._lock:
            now = self._monotonic()
            if self._fresh_until is not None and now < self._fresh_until:
                return
            state = self._store.state()
            problem = self.staleness(state)
            if problem is not None:
                self._fresh_until = None
                if not self._stale_logged:
                    log.warning("synced directory not trusted: %s; every caller is external until a sync "
                                "succeeds", problem)
                    self._stale_logged = True
            else:
                assert state is not None and state.last_success_at is not None
                left = self._max_age - (self._clock() - state.last_success_at).total_seconds()
                self._fresh_until = now + max(0.0, min(self._state_ttl, left))
                if self._stale_logged:
                    log.warning("synced directory trusted again")
                    self._stale_logged = False
        if problem is not None:
            raise DirectoryUnavailable(problem)

    def staleness(self, state: SyncState | None) -> str | None:
        """Why a copy in ``state`` is not to be trusted now, or None when it is fresh."""
        if state is None or state.last_success_at is None:
            return "the directory has never been synchronised (run `voicemail directory sync --full`)"
        if state.plan_fingerprint != self._plan.fingerprint():
            return "the number plan changed since the last sync (run `voicemail directory sync --full`)"
        age = (self._clock() - state.last_success_at).total_seconds()
        if self._max_age is not None and age > self._max_age:
            return f"the last successful directory sync is {age / 3600:.1f} h old (limit {self._max_age / 3600:.1f} h)"
        return None
