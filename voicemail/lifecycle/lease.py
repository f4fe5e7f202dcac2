"""Named database leases: a job (retention run, key rotation, quota eviction) runs in one place at a time.

A lease is a row (name, holder, expires_at). Taking it succeeds when there is no row, the row has
expired, or we hold it already; it works the same on PostgreSQL and SQLite (a plain INSERT, or an
UPDATE guarded by the expiry). A holder killed with kill -9 loses the lease when it expires (or at
once, when it ran on this host and its process is gone), so a crashed job never blocks the next one
for longer than ``ttl``. Long jobs ``renew`` between batches.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from collections.abc import Iterator

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from voicemail.domain.errors import VoicemailError
from voicemail.lifecycle.tables import lifecycle_leases


class LeaseBusy(VoicemailError):
    """Another process holds the lease (the job is running elsewhere)."""


def holder_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def _dead_here(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:60] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    def __init__(self, engine: Engine, name: str, ttl: float = 300.0) -> None:
        self._engine = engine
        self.name = name
        self.ttl = ttl
        self.holder = holder_name()

    def try_take(self) -> bool:
        now = time.time()
        with self._engine.begin() as conn:
            done = conn.execute(update(lifecycle_leases).where(
                lifecycle_leases.c.name == self.name,
                or_(lifecycle_leases.c.expires_at < now, lifecycle_leases.c.holder == self.holder),
            ).values(holder=self.holder, expires_at=now + self.ttl))
            if done.rowcount == 1:
                return True
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(lifecycle_leases).values(name=self.name, holder=self.holder,
                                                             expires_at=now + self.ttl))
            return True
        except IntegrityError:
            return self._take_from_dead()

    def _take_from_dead(self) -> bool:
        """A holder on this host whose process is gone (kill -9) loses the lease at once."""
        with self._engine.connect() as conn:
            holder = conn.execute(select(lifecycle_leases.c.holder)
                                  .where(lifecycle_leases.c.name == self.name)).scalar()
        if holder is None or not _dead_here(str(holder)):
            return False
        with self._engine.begin() as conn:
            done = conn.execute(update(lifecycle_leases).where(
                lifecycle_leases.c.name == self.name, lifecycle_leases.c.holder == holder,
            ).values(holder=self.holder, expires_at=time.time() + self.ttl))
        return done.rowcount == 1

    def take(self, wait: float = 0.0) -> None:
        """Take the lease, waiting up to ``wait`` seconds; LeaseBusy when someone else keeps it."""
        deadline = time.monotonic() + wait
        while not self.try_take():
            if time.monotonic() >= deadline:
                raise LeaseBusy(f"{self.name} is running in another process (lease held); try again later")
            time.sleep(0.2)

    def renew(self) -> None:
        with self._engine.begin() as conn:
            done = conn.execute(update(lifecycle_leases).where(
                lifecycle_leases.c.name == self.name, lifecycle_leases.c.holder == self.holder,
            ).values(expires_at=time.time() + self.ttl))
        if done.rowcount != 1:
            raise LeaseBusy(f"lost the {self.name} lease (expired and taken by another process); stopping")

    def release(self) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(lifecycle_leases).where(lifecycle_leases.c.name == self.name,
                                                        lifecycle_leases.c.holder == self.holder))


@contextlib.contextmanager
def leased(engine: Engine, name: str, *, ttl: float = 300.0, wait: float = 0.0) -> Iterator[Lease]:
    lease = Lease(engine, name, ttl)
    lease.take(wait)
    try:
        yield lease
    finally:
        lease.release()
