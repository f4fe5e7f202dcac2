"""Directory sync: LDAP -> the database, full or incremental, streamed one page at a time.

* **Full**: every user under the base DN matching the filter is fetched (paged) and upserted; afterwards
  every stored user the pass did not return is marked removed.
* **Incremental**: only users whose change attribute passed the stored high-water mark are fetched —
  ``uSNChanged >= mark + 1`` on Active Directory (a per-domain-controller counter), ``modifyTimestamp >=
  mark`` elsewhere (one-second resolution, so the last second is read again; upserts are idempotent).
  Then one id-only paged pass over the base notices users that were deleted or left the filter (no change
  attribute can show those), and they are marked removed.
* A scheduled sync turns into a full one when there is no usable mark yet, when the LDAP settings, the
  number plan or (for uSNChanged) the answering domain controller changed, or when the last full sync is
  older than ``full_interval``.

Disabled users (userAccountControl bit 2, or the lock attribute) and removed users stop being internal as
soon as their page is committed. One sync runs at a time (a lease in the database). Nothing here logs
personal data: only counts, the server's host name and error reasons.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import astuple
from typing import Protocol

from voicemail.directory.ldap_mapping import entry_id, map_entry
from voicemail.directory.ldap_source import LdapOptions, LdapSource, RawEntry
from voicemail.directory.plan import NumberPlan
from voicemail.directory.records import DirectoryUser, PageCounts, SyncState, SyncSummary
from voicemail.domain.errors import VoicemailError

log = logging.getLogger(__name__)

_TIMESTAMP = re.compile(r"^[0-9]{14}(\.[0-9]{1,6})?Z$")


class Source(Protocol):
    def server_identity(self) -> str: ...

    def pages(self, search_filter: str, attributes: list[str]) -> Iterator[list[RawEntry]]: ...


class SyncStore(Protocol):
    def state(self) -> SyncState | None: ...

    def begin_run(self, lease_seconds: float, *, now: dt.datetime) -> int: ...

    def apply_users(self, users: list[DirectoryUser], run: int,
                    number_key: Callable[[str], str | None], *, now: dt.datetime) -> PageCounts: ...

    def mark_seen(self, ext_ids: list[str], run: int, *, now: dt.datetime) -> int: ...

    def sweep_unseen(self, run: int, *, now: dt.datetime) -> int: ...

    def finish_run(self, run: int, *, full: bool, high_water: str, source_key: str, server_id: str,
                   plan_fingerprint: str, now: dt.datetime) -> None: ...

    def fail_run(self, run: int, error: str) -> None: ...


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DirectorySync:
    def __init__(self, store: SyncStore, plan: NumberPlan, options: LdapOptions, *,
                 open_source: Callable[[], AbstractContextManager[Source]] | None = None,
                 full_interval: float = 86400.0, lease_seconds: float = 600.0,
                 clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self._store = store
        self._plan = plan
        self._options = options
        self._open = open_source or (lambda: LdapSource(options))
        self._full_interval = full_interval
        self._lease = lease_seconds
        self._clock = clock

    def source_key(self) -> str:
        """Changes when a setting changes which users or values a sync would see."""
        o = self._options
        data = [o.url.lower(), o.base_dn.lower(), o.search_filter, astuple(o.attributes)]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:32]

    def run(self, *, full: bool = False, progress: Callable[[int], None] | None = None) -> SyncSummary:
        """One sync. ``progress(n)`` is called after each committed page with the entries in it.
        Raises DirectoryUnavailable (nothing swept, the lease released) or SyncInProgress."""
        started = time.monotonic()
        state = self._store.state()
        run = self._store.begin_run(self._lease, now=self._clock())
        try:
            with self._open() as source:
                server_id = source.server_identity()
                reason = self._full_reason(full, state, server_id)
                summary = self._pass(source, run, state if reason is None else None, progress)
                removed = self._store.sweep_unseen(run, now=self._clock())
                self._store.finish_run(run, full=reason is not None, high_water=summary[1],
                                       source_key=self.source_key(), server_id=server_id,
                                       plan_fingerprint=self._plan.fingerprint(), now=self._clock())
        except BaseException as exc:
            self._store.fail_run(run, _describe(exc))
            log.warning("directory sync failed: %s", _describe(exc))
            raise
        counts, _high, fetched, skipped = summary
        result = SyncSummary(mode="full" if reason is not None else "incremental", fetched=fetched,
                             added=counts.added, changed=counts.changed, disabled=counts.disabled,
                             removed=removed, unchanged=counts.unchanged, skipped=skipped,
                             seconds=time.monotonic() - started, reason=reason or "")
        log.info("directory %s", result.line())
        return result

    def _full_reason(self, requested: bool, state: SyncState | None, server_id: str) -> str | None:
        """Why this sync must be a full one, or None for an incremental one."""
        numeric = self._options.attributes.numeric_changes
        if requested:
            return "requested"
        if state is None or state.last_success_at is None:
            return "first sync"
        if not self._options.attributes.changed:
            return "no change attribute configured (ldap_attr_changed)"
        if state.source_key != self.source_key():
            return "the LDAP settings changed"
        if state.plan_fingerprint != self._plan.fingerprint():
            return "the number plan changed"
        if numeric and state.server_id != server_id:
            return "another domain controller answers (uSNChanged is counted per server)"
        if not _usable_mark(state.high_water, numeric):
            return "no usable high-water mark"
        if state.last_full_at is None or (self._clock() - state.last_full_at).total_seconds() > self._full_interval:
            return "the last full sync is older than ldap_full_sync_interval"
        return None

    def _pass(self, source: Source, run: int, incremental_from: SyncState | None,
              progress: Callable[[int], None] | None) -> tuple[PageCounts, str, int, int]:
        attrs = self._options.attributes
        base = self._options.search_filter.strip()
        numeric = attrs.numeric_changes
        high = ""
        search = base
        if incremental_from is not None:
            high = incremental_from.high_water
            bound = str(int(high) + 1) if numeric else high
            search = f"(&{base}({attrs.changed}>={bound}))"
        counts = PageCounts()
        fetched = skipped = 0
        for page in source.pages(search, attrs.requested()):
            users: list[DirectoryUser] = []
            for dn, raw in page:
                user = map_entry(dn, raw, attrs)
                if user is None:
                    skipped += 1
                    continue
                users.append(user)
                high = _later(high, user.change_mark, numeric)
            counts.add(self._store.apply_users(users, run, self._plan.key, now=self._clock()))
            fetched += len(page)
            if progress is not None:
                progress(len(page))
        if incremental_from is not None:
            for page in source.pages(base, [attrs.id]):
                self._store.mark_seen([i for _dn, raw in page if (i := entry_id(raw, attrs))], run,
                                      now=self._clock())
        return counts, high, fetched, skipped


def _usable_mark(mark: str, numeric: bool) -> bool:
    return mark.isdigit() if numeric else bool(_TIMESTAMP.match(mark))


def _later(current: str, candidate: str, numeric: bool) -> str:
    if not _usable_mark(candidate, numeric):
        return current
    if not current:
        return candidate
    if numeric:
        return candidate if int(candidate) > int(current) else current
    return max(current, candidate)


def _describe(exc: BaseException) -> str:
    """A reason safe to log and store: our own errors as they are; others by class, and for database errors
    the driver's first line only (SQLAlchemy's message quotes the statement's parameters: directory data)."""
    if isinstance(exc, VoicemailError):
        return str(exc)[:300]
    orig = getattr(exc, "orig", None)
    if orig is not None:
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
        return f"{type(exc).__name__} ({type(orig).__name__}: {first[:200]})"
    return type(exc).__name__
