"""Durable per-KEK usage counters, so no KEK approaches the AES-GCM random-nonce limit (2^32 wraps).

Every wrap is counted *before* it happens: a process reserves a block of wraps (``UPDATE kek_usage SET
wraps = wraps + n``, committed), then spends it in memory. A crash loses at most the unspent rest of a
block, which only over-counts, the safe direction. A reservation that would pass ``kek_max_wraps``
is refused: the KEK must be rotated (`voicemail keys rotate`) before anything more is sealed.

A KEK that predates the counters starts at the number of data keys it wraps today (a lower bound).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from voicemail.audit.store import utc_now_iso
from voicemail.db.models import MessageRow
from voicemail.domain.errors import KeyringError
from voicemail.domain.models import WrappedKey
from voicemail.keys.backend import RotatableKeyring
from voicemail.lifecycle.tables import kek_usage

log = logging.getLogger(__name__)

WARN_FRACTION = 0.9
RELOAD_EVERY = 30.0  # seconds: notice a rotation made by another process


def wrapped_by(engine: Engine, kek_id: str) -> int:
    messages = cast(Table, MessageRow.__table__)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(messages)
                                .where(messages.c.kek_id == kek_id, messages.c.wrapped_dek.is_not(None))).scalar_one())


class UsageCounter:
    def __init__(self, engine: Engine, max_wraps: int, backend: str = "file") -> None:
        self._engine = engine
        self.max_wraps = max_wraps
        self._backend = backend

    def ensure(self, kek_id: str) -> None:
        """Create the KEK's counter row if missing (starting at the keys it wraps already)."""
        with self._engine.connect() as conn:
            exists = conn.execute(select(kek_usage.c.kek_id).where(kek_usage.c.kek_id == kek_id)).first()
        if exists is not None:
            return
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(kek_usage).values(kek_id=kek_id, backend=self._backend,
                                                      wraps=wrapped_by(self._engine, kek_id),
                                                      created_at=utc_now_iso()))
        except IntegrityError:
            pass  # another process created it

    def reserve(self, kek_id: str, n: int, *, at_least: int | None = None) -> int:
        """Count ``n`` wraps for ``kek_id`` durably (or, near the limit, only ``at_least``); returns how many
        were granted. KeyringError when not even ``at_least`` (default ``n``) fit under the limit."""
        self.ensure(kek_id)
        for want in dict.fromkeys((n, at_least if at_least is not None else n)):
            with self._engine.begin() as conn:
                total = conn.execute(update(kek_usage).where(kek_usage.c.kek_id == kek_id,
                                                             kek_usage.c.wraps + want <= self.max_wraps)
                                     .values(wraps=kek_usage.c.wraps + want).returning(kek_usage.c.wraps)).scalar()
            if total is not None:
                if total >= WARN_FRACTION * self.max_wraps:
                    log.warning("key-encryption key %s has performed %d of its %d wraps: rotate it soon "
                                "(`voicemail keys rotate`)", kek_id, total, self.max_wraps)
                return want
        raise KeyringError(f"key-encryption key {kek_id} has reached its wrap limit ({self.max_wraps} wraps, "
                           "kek_max_wraps): nothing more can be sealed under it; run `voicemail keys rotate`")

    def wraps(self, kek_id: str) -> int:
        with self._engine.connect() as conn:
            value = conn.execute(select(kek_usage.c.wraps).where(kek_usage.c.kek_id == kek_id)).scalar()
        return int(value or 0)


class CountedKeyring:
    """A keyring whose every wrap is counted durably (in blocks); otherwise the inner keyring."""

    def __init__(self, inner: RotatableKeyring, counter: UsageCounter, block: int = 256) -> None:
        self.inner = inner
        self.counter = counter
        self._block = block
        self._lock = threading.Lock()
        self._kek = ""
        self._left = 0
        self._reloaded = time.monotonic()

    @property
    def backend(self) -> str:
        return self.inner.backend

    def current_kek_id(self) -> str:
        return self.inner.current_kek_id()

    def kek_ids(self) -> tuple[str, ...]:
        return self.inner.kek_ids()

    def reload(self) -> None:
        self.inner.reload()

    def rotate(self) -> str:
        return self.inner.rotate()

    def destroy(self, kek_id: str) -> str:
        return self.inner.destroy(kek_id)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        return self.inner.unwrap(wrapped, context)

    def reserve(self, n: int) -> None:
        """Reserve ``n`` wraps under the current KEK up front (the re-wrap job does one batch at a time)."""
        with self._lock:
            self._take(n)

    def _take(self, n: int) -> None:
        if time.monotonic() - self._reloaded > RELOAD_EVERY:
            self._reloaded = time.monotonic()
            try:
                self.inner.reload()  # another process may have rotated: wrap under the new KEK from now on
            except KeyringError as exc:
                log.warning("could not reload the keyring: %s", exc)
        kek = self.inner.current_kek_id()
        if kek != self._kek:
            self._kek, self._left = kek, 0
        if self._left < n:
            need = n - self._left
            self._left += self.counter.reserve(kek, max(need, self._block), at_least=need)

    def wrap(self, dek: bytes, context: bytes) -> WrappedKey:
        with self._lock:
            self._take(1)
            self._left -= 1
            kek = self._kek
        wrapped = self.inner.wrap(dek, context)
        if wrapped.kek_id != kek:  # rotated under us between the reservation and the wrap
            self.counter.reserve(wrapped.kek_id, 1)
        return wrapped
