"""The audit log on SQL: concurrency-safe appends to the hash chain, queries, checkpoints, verify.

Appends serialise on the single ``audit_head`` row: the first statement of the append transaction is
an UPDATE of that row, which takes a row lock on PostgreSQL and the write lock on SQLite, so two
workers appending at once queue up instead of forking the chain.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from voicemail.audit.chain import OUTCOMES, Anchor, AuditEvent, ChainedEvent, VerifyResult, chain, replay
from voicemail.audit.checkpoint import Checkpoint, read_shipped, ship_to_file, sign_checkpoint, verified_anchors
from voicemail.audit.signing import SigningKey
from voicemail.audit.tables import audit_checkpoints, audit_events, audit_head
from voicemail.domain.errors import InvalidInput

if TYPE_CHECKING:
    from voicemail.audit.shipping import CheckpointSink


def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _event(row: RowMapping) -> ChainedEvent:
    return ChainedEvent(int(row["seq"]), row["at"], row["actor"], row["action"], row["outcome"], row["source"],
                        row["reason"], row["case_id"], row["request_ref"], row["message_id"], row["details"],
                        row["prev_hash"], row["hash"])


class _Slot:
    """Where a group-committed append waits for its own record."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._record: ChainedEvent | None = None
        self._error: BaseException | None = None

    def done(self, record: ChainedEvent) -> None:
        self._record = record
        self._ready.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._ready.set()

    def wait(self) -> ChainedEvent:
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._record is not None
        return self._record


@dataclass(frozen=True)
class AuditReport:
    result: VerifyResult
    checkpoints: int  # signed checkpoints that verified and were used as anchors
    bad_signatures: tuple[int, ...]  # seqs of checkpoints whose signature does not verify

    @property
    def ok(self) -> bool:
        return self.result.ok and not self.bad_signatures


class AuditLog:
    def __init__(self, engine: Engine, clock: Callable[[], str] = utc_now_iso) -> None:
        self._engine = engine
        self._clock = clock
        self._group_lock = threading.Lock()
        self._pending: list[tuple[AuditEvent, _Slot]] = []
        self._writing = False

    # --- writing ----------------------------------------------------------------------------
    def append(self, event: AuditEvent, conn: Connection | None = None) -> ChainedEvent:
        """Append one event, durably, before returning.

        With ``conn`` it joins the caller's transaction (atomic with the act). Without, concurrent
        callers in this process are group-committed: the first becomes the leader and writes every
        event queued meanwhile in one transaction; each caller still returns only after its own event
        is committed (or raises the error of that transaction).
        """
        if event.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {event.outcome!r}")
        if conn is not None:
            return self._append(conn, [event])[0]
        slot = _Slot()
        with self._group_lock:
            self._pending.append((event, slot))
            leader = not self._writing
            self._writing = True
        if leader:
            self._lead()
        return slot.wait()

    def _lead(self) -> None:
        while True:
            with self._group_lock:
                batch, self._pending = self._pending, []
                if not batch:
                    self._writing = False
                    return
            try:
                records = self.append_many([e for e, _ in batch])
            except BaseException as exc:  # every caller of this batch sees the failure
                for _, slot in batch:
                    slot.fail(exc)
            else:
                for (_, slot), record in zip(batch, records, strict=True):
                    slot.done(record)

    def append_many(self, events: Sequence[AuditEvent], conn: Connection | None = None) -> list[ChainedEvent]:
        if conn is None:
            with self._engine.begin() as own:
                return self._append(own, events)
        return self._append(conn, events)

    def _append(self, conn: Connection, events: Sequence[AuditEvent]) -> list[ChainedEvent]:
        # lock the head row and read it in one round trip (RETURNING: PostgreSQL, SQLite >= 3.35)
        head = conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=audit_head.c.seq)
                            .returning(audit_head.c.seq, audit_head.c.hash)).one()
        seq, prev = int(head.seq), str(head.hash)
        out: list[ChainedEvent] = []
        for event in events:
            seq += 1
            record = chain(event, seq, self._clock(), prev)
            out.append(record)
            prev = record.hash
        conn.execute(audit_events.insert(), [r.as_dict() for r in out])
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))
        return out

    # --- reading ----------------------------------------------------------------------------
    def head(self) -> Anchor:
        with self._engine.connect() as conn:
            row = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).one()
        return Anchor(int(row.seq), str(row.hash))

    def base(self) -> Anchor:
        with self._engine.connect() as conn:
            row = conn.execute(select(audit_head.c.base_seq, audit_head.c.base_hash)
                               .where(audit_head.c.id == 1)).one()
        return Anchor(int(row.base_seq), str(row.base_hash))

    def events(self, *, message_id: str | None = None, case_id: str | None = None, actor: str | None = None,
               limit: int | None = None) -> list[ChainedEvent]:
        query = select(audit_events).order_by(audit_events.c.seq)
        filters: list[Any] = []
        if message_id is not None:
            filters.append(audit_events.c.message_id == message_id)
        if case_id is not None:
            filters.append(audit_events.c.case_id == case_id)
        if actor is not None:
            filters.append(audit_events.c.actor == actor)
        if filters:
            query = query.where(*filters)
        if limit is not None:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            return [_event(r) for r in conn.execute(query).mappings()]

    def iter_all(self, batch: int = 20_000) -> Iterator[ChainedEvent]:
        """Every event in seq order, read in keyset-paginated batches (constant memory)."""
        after = -1
        while True:
            with self._engine.connect() as conn:
                rows = conn.execute(select(audit_events).where(audit_events.c.seq > after)
                                    .order_by(audit_events.c.seq).limit(batch)).mappings().all()
            if not rows:
                return
            for row in rows:
                yield _event(row)
            after = int(rows[-1]["seq"])

    # --- checkpoints ------------------------------------------------------------------------
    def checkpoint(self, key: SigningKey, *, kind: str = "on-demand",
                   ship_to: Path | CheckpointSink | None = None) -> Checkpoint:
        """Sign the current chain head, store the checkpoint, and ship it to ``ship_to`` (a file or sinks)."""
        with self._engine.begin() as conn:
            conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=audit_head.c.seq))  # lock
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).one()
            cp = sign_checkpoint(key, int(head.seq), str(head.hash), self._clock(), kind)
            conn.execute(audit_checkpoints.insert().values(seq=cp.seq, head_hash=cp.head_hash, at=cp.at,
                                                           key_id=cp.key_id, signature=cp.signature, kind=cp.kind))
        if ship_to is not None:
            _ship(ship_to, cp)
        return cp

    def seal_epoch(self, key: SigningKey, before: str, *,
                   ship_to: Path | CheckpointSink | None = None) -> Checkpoint | None:
        """Retention: seal every event older than ``before`` (ISO UTC) by a signed ``epoch-seal``
        checkpoint of the last of them, move the chain's base past them, and delete them.

        The triggers allow DELETE only at or below the base, and verify refuses a base that no signed
        epoch checkpoint proves. Returns the checkpoint (None when nothing has expired).
        """
        try:
            cutoff = dt.datetime.fromisoformat(before.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"not an ISO date/time: {before!r}") from None
        before = (cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ")  # the stored format, so text order is time order
        with self._engine.begin() as conn:
            conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=audit_head.c.seq))  # lock
            last = conn.execute(select(audit_events.c.seq, audit_events.c.hash).where(audit_events.c.at < before)
                                .order_by(audit_events.c.seq.desc()).limit(1)).first()
            if last is None:
                return None
            cp = sign_checkpoint(key, int(last.seq), str(last.hash), self._clock(), "epoch-seal")
            conn.execute(audit_checkpoints.insert().values(seq=cp.seq, head_hash=cp.head_hash, at=cp.at,
                                                           key_id=cp.key_id, signature=cp.signature, kind=cp.kind))
            if ship_to is not None:
                _ship(ship_to, cp)  # shipped before the rows go: the seal is never lost
            conn.execute(update(audit_head).where(audit_head.c.id == 1).values(base_seq=cp.seq,
                                                                               base_hash=cp.head_hash))
            conn.execute(audit_events.delete().where(audit_events.c.seq <= cp.seq))
        return cp

    def checkpoints(self) -> list[Checkpoint]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.id)).mappings().all()
        return [Checkpoint(int(r["seq"]), r["head_hash"], r["at"], r["key_id"], r["signature"], r["kind"])
                for r in rows]

    def verify(self, public: Ed25519PublicKey, shipped: Path | None = None) -> AuditReport:
        """Replay the whole chain against the signed checkpoints (database and shipped file) and the head."""
        cps = [*(read_shipped(shipped) if shipped else []), *self.checkpoints()]
        anchors, bad = verified_anchors(cps, public)
        base = self.base()
        if base.seq and not any(a.seq == base.seq and a.hash == base.hash for a in anchors):
            # the retained chain claims to start after a sealed epoch that no signed checkpoint proves
            result = VerifyResult(0, 0, base.seq, f"no signed epoch checkpoint seals sequence {base.seq}")
            return AuditReport(result, len(anchors), tuple(sorted(set(bad))))
        result = replay(self.iter_all(), anchors, start=base, head=self.head())
        return AuditReport(result, len(anchors), tuple(sorted(set(bad))))


def _ship(target: Path | CheckpointSink, checkpoint: Checkpoint) -> None:
    if isinstance(target, Path):
        ship_to_file(target, checkpoint)
    else:
        target.ship(checkpoint)
