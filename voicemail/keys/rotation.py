"""KEK rotation: a new current KEK, then every data key re-wrapped under it in batches; old KEKs retired.

Nothing is re-encrypted but the 32-byte data keys: the sealed audio never changes. Progress is the
database itself: rows still wrapped by an old KEK are the work left, so a rotation killed at any
point (kill -9) resumes with `voicemail keys rotate` (an unfinished rotation row is resumed, not
started again) or `voicemail keys rewrap`. Each row is updated only if it still holds the wrapped key
that was read (compare-and-set), so a concurrent writer is never overwritten. One rotation at a time
(a database lease). Every step is audited.

An old KEK is destroyed only when no row references it, ``kek_retire_grace`` seconds after it was
superseded (a seal in flight may carry a key wrapped by it), and no rotation is unfinished.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.engine import Engine

from voicemail.audit.chain import AuditEvent
from voicemail.audit.store import AuditLog, utc_now_iso
from voicemail.db.models import MessageRow
from voicemail.domain.errors import IntegrityError, InvalidInput, KeyringError, NotFound
from voicemail.domain.models import WrappedKey
from voicemail.keys.holders import KeyHolder, default_holders
from voicemail.keys.usage import CountedKeyring, wrapped_by
from voicemail.lifecycle.lease import leased
from voicemail.lifecycle.tables import kek_usage, key_rotations

log = logging.getLogger(__name__)
messages = cast(Table, MessageRow.__table__)


_CAS_UPDATE = update(messages).where(
    messages.c.id == bindparam("b_id"), messages.c.kek_id == bindparam("b_old_kek"),
    messages.c.wrapped_dek == bindparam("b_old")).values(kek_id=bindparam("b_kek"), wrapped_dek=bindparam("b_blob"))


@dataclass(frozen=True)
class RewrapReport:
    rotation_id: str
    new_kek: str
    resumed: bool
    rewrapped: int
    failed: int  # rows whose wrapped key did not unwrap (reported, left as they are)
    left: int  # rows still wrapped by another KEK after the run
    retired: tuple[str, ...] = ()


@dataclass(frozen=True)
class KekStatus:
    kek_id: str
    current: bool
    wraps: int
    data_keys: int
    created_at: str
    destroyed_at: str | None


class KeyRotation:
    def __init__(self, engine: Engine, keyring: CountedKeyring, audit: AuditLog, *, batch: int = 1000,
                 retire_grace: float = 3600.0, holders: Sequence[KeyHolder] | None = None) -> None:
        self._engine = engine
        self._holders = list(default_holders(engine, keyring) if holders is None else holders)
        self._keyring = keyring
        self._audit = audit
        self._batch = batch
        self._grace = retire_grace

    # --- rotate / rewrap ------------------------------------------------------------------------
    def unfinished(self) -> tuple[str, str] | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(key_rotations.c.id, key_rotations.c.new_kek)
                               .where(key_rotations.c.finished_at.is_(None))
                               .order_by(key_rotations.c.started_at.desc()).limit(1)).first()
        return (str(row.id), str(row.new_kek)) if row else None

    def start(self, actor: str, source: str) -> tuple[str, str, bool]:
        """Resume the unfinished rotation, or make a new KEK current. (rotation id, KEK, resumed)."""
        open_rotation = self.unfinished()
        if open_rotation is not None:
            self._keyring.reload()
            return open_rotation[0], self._keyring.current_kek_id(), True
        old = [k for k in self._keyring.kek_ids()]
        for kek in old:
            self._keyring.counter.ensure(kek)
        new = self._keyring.rotate()
        self._keyring.counter.ensure(new)
        rotation_id = str(uuid.uuid4())
        with self._engine.begin() as conn:
            conn.execute(insert(key_rotations).values(id=rotation_id, new_kek=new, old_keks=json.dumps(old),
                                                      actor=actor, started_at=utc_now_iso(), rewrapped=0))
            conn.execute(update(kek_usage).where(kek_usage.c.kek_id.in_(old), kek_usage.c.superseded_at.is_(None))
                         .values(superseded_at=time.time()))
            self._audit.append(AuditEvent(actor=actor, action="key.rotate", source=source,
                                          details={"rotation": rotation_id, "new_kek": new, "old_keks": old,
                                                   "backend": self._keyring.backend}), conn)
        log.info("key rotation %s: new current KEK %s", rotation_id, new)
        return rotation_id, new, False

    def remaining(self) -> int:
        current = self._keyring.current_kek_id()
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(messages).where(
                messages.c.wrapped_dek.is_not(None), messages.c.kek_id != current)).scalar_one())

    def rewrap(self, rotation_id: str | None, *, progress: Callable[[int], None] = lambda n: None,
               pause: float = 0.0) -> tuple[int, int]:
        """Re-wrap every data key not under the current KEK. Returns (rewrapped, failed)."""
        current = self._keyring.current_kek_id()
        done = failed = 0
        after = ""
        while True:
            with self._engine.connect() as conn:
                rows = conn.execute(select(messages.c.id, messages.c.kek_id, messages.c.wrapped_dek).where(
                    messages.c.wrapped_dek.is_not(None), messages.c.kek_id != current, messages.c.id > after,
                ).order_by(messages.c.id).limit(self._batch)).all()
            if not rows:
                return done, failed
            after = str(rows[-1].id)
            self._keyring.reserve(len(rows))
            updates = []
            for row in rows:
                context = str(row.id).encode()
                try:
                    fresh = self._keyring.wrap(self._keyring.unwrap(WrappedKey(row.kek_id, row.wrapped_dek),
                                                                    context), context)
                except (IntegrityError, KeyringError) as exc:
                    failed += 1
                    log.error("message %s: its data key cannot be re-wrapped: %s", row.id, exc)
                    continue
                updates.append({"b_id": row.id, "b_old_kek": row.kek_id, "b_old": row.wrapped_dek,
                                "b_kek": fresh.kek_id, "b_blob": fresh.blob})
            changed = 0
            with self._engine.begin() as conn:
                if updates:  # compare-and-set: a row changed meanwhile (destroyed, re-sealed) is left alone
                    changed = conn.execute(_CAS_UPDATE, updates).rowcount
                if rotation_id is not None:
                    conn.execute(update(key_rotations).where(key_rotations.c.id == rotation_id)
                                 .values(rewrapped=key_rotations.c.rewrapped + changed))
            done += changed
            progress(len(rows))
            if pause:
                time.sleep(pause)

    def rotate(self, actor: str, source: str, *, resume_only: bool = False, retire: bool = False,
               progress_total: Callable[[int], Callable[[int], None]] | None = None,
               pause: float = 0.0) -> RewrapReport:
        with leased(self._engine, "keys.rotate", ttl=600.0) as lease:
            if resume_only:
                open_rotation = self.unfinished()
                rotation_id = open_rotation[0] if open_rotation else None
                new, resumed = self._keyring.current_kek_id(), True
            else:
                rotation_id, new, resumed = self.start(actor, source)
            total = self.remaining()
            step = progress_total(total) if progress_total else (lambda n: None)

            def tick(n: int) -> None:
                step(n)
                lease.renew()

            rewrapped, failed = self.rewrap(rotation_id, progress=tick, pause=pause)
            others = {h.name: h.rewrap() for h in self._holders}
            left = self.remaining() + self._others_left()
            if rotation_id is not None and left == 0:
                with self._engine.begin() as conn:
                    conn.execute(update(key_rotations).where(key_rotations.c.id == rotation_id)
                                 .values(finished_at=utc_now_iso()))
            self._audit.append(AuditEvent(actor=actor, action="key.rewrap", source=source,
                                          outcome="ok" if not failed else "error",
                                          details={"rotation": rotation_id, "kek": new, "rewrapped": rewrapped,
                                                   "failed": failed, "left": left, "resumed": resumed,
                                                   "other_secrets": others}))
        retired: list[str] = []
        if retire and left == 0:
            for kek in self._keyring.kek_ids():
                if kek != new and self.retirable(kek) is None:
                    self.retire(kek, actor, source)
                    retired.append(kek)
        return RewrapReport(rotation_id or "", new, resumed, rewrapped, failed, left, tuple(retired))

    def _others_left(self) -> int:
        current = self._keyring.current_kek_id()
        return sum(h.wrapped_by(k) for h in self._holders for k in self._keyring.kek_ids() if k != current)

    # --- retire ---------------------------------------------------------------------------------
    def retirable(self, kek_id: str) -> str | None:
        """Why ``kek_id`` may not be destroyed now, or None when it may."""
        if kek_id == self._keyring.current_kek_id():
            return "it is the current key-encryption key"
        if kek_id not in self._keyring.kek_ids():
            return None
        refs = wrapped_by(self._engine, kek_id)
        if refs:
            return f"{refs} data key(s) are still wrapped by it: run `voicemail keys rewrap` first"
        for holder in self._holders:
            if n := holder.wrapped_by(kek_id):
                return f"{n} of the {holder.name} are still wrapped by it: run `voicemail keys rewrap` first"
        if self.unfinished() is not None:
            return "a rotation is unfinished: run `voicemail keys rotate` to complete it first"
        with self._engine.connect() as conn:
            since = conn.execute(select(kek_usage.c.superseded_at).where(kek_usage.c.kek_id == kek_id)).scalar()
        if since is None:
            return "it was never superseded by a rotation recorded here"
        wait = float(since) + self._grace - time.time()
        if wait > 0:
            return (f"it was superseded less than kek_retire_grace ago (seals in flight may still use it); "
                    f"try again in {wait:.0f} s")
        return None

    def retire(self, kek_id: str, actor: str, source: str) -> str:
        """Destroy ``kek_id``; "already" when it was destroyed before. A name that this keyring never
        held raises NotFound (a typo must not look like success)."""
        if kek_id not in self._keyring.kek_ids() and not self._known(kek_id):
            self._audit.append(AuditEvent(actor=actor, action="key.destroy", source=source, outcome="error",
                                          reason="no such key-encryption key", details={"kek": kek_id[:64]}))
            raise NotFound(f"no key-encryption key {kek_id[:64]!r} in this keyring (see `voicemail keys status`)")
        why = self.retirable(kek_id)
        if why is not None:
            self._audit.append(AuditEvent(actor=actor, action="key.destroy", source=source, outcome="denied",
                                          reason=why, details={"kek": kek_id}))
            raise InvalidInput(f"key-encryption key {kek_id[:64]} cannot be destroyed: {why}")
        outcome = self._keyring.destroy(kek_id)
        with self._engine.begin() as conn:
            conn.execute(update(kek_usage).where(kek_usage.c.kek_id == kek_id).values(destroyed_at=utc_now_iso()))
            self._audit.append(AuditEvent(actor=actor, action="key.destroy", source=source,
                                          details={"kek": kek_id, "outcome": outcome,
                                                   "backend": self._keyring.backend}), conn)
        log.info("key-encryption key %s destroyed (%s)", kek_id, outcome)
        return outcome

    def _known(self, kek_id: str) -> bool:
        with self._engine.connect() as conn:
            return conn.execute(select(kek_usage.c.kek_id).where(kek_usage.c.kek_id == kek_id)).first() is not None

    @property
    def keyring_backend(self) -> str:
        return self._keyring.backend

    # --- status ---------------------------------------------------------------------------------
    def status(self) -> tuple[list[KekStatus], str | None, bool]:
        """(per-KEK status, when the last rotation started, whether one is unfinished)."""
        current = self._keyring.current_kek_id()
        present = set(self._keyring.kek_ids())
        with self._engine.connect() as conn:
            counts = {str(k): int(n) for k, n in conn.execute(
                select(messages.c.kek_id, func.count()).where(messages.c.wrapped_dek.is_not(None))
                .group_by(messages.c.kek_id)).all()}
            usage = {str(r.kek_id): r for r in conn.execute(select(kek_usage)).all()}
            last = conn.execute(select(func.max(key_rotations.c.started_at))).scalar()
        out = []
        for kek in sorted(present | set(usage)):
            u = usage.get(kek)
            destroyed = str(u.destroyed_at or "gone") if u is not None and kek not in present else None
            out.append(KekStatus(kek, kek == current, int(u.wraps) if u else counts.get(kek, 0), counts.get(kek, 0),
                                 str(u.created_at) if u else "", destroyed))
        return out, (str(last) if last else None), self.unfinished() is not None
