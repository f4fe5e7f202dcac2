"""The synced directory in the database: users, their numbers under the number-plan key, the sync state.

Writes come from one sync at a time (a lease in ``directory_sync_state``, renewed with every page) and are
committed page by page, so a sync of 50,000 users never holds a long write transaction and lookups keep
working meanwhile. Removal is mark-and-sweep: every user the directory returns gets the run number;
after a complete pass, users with an older run number are marked removed. A pass that fails half-way
sweeps nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from voicemail.db.models import DirectoryNumberRow, DirectorySyncStateRow, DirectoryUserRow
from voicemail.directory.errors import SyncInProgress
from voicemail.directory.records import DirectoryUser, PageCounts, StoredUser, SyncState

USERS = cast(Table, DirectoryUserRow.__table__)
NUMBERS = cast(Table, DirectoryNumberRow.__table__)
STATE = cast(Table, DirectorySyncStateRow.__table__)
SOURCE = "ldap"
# PostgreSQL plans `ext_id IN (… 500 ids …)` as a sequential scan until the table has statistics, which
# made a first sync of 50,000 users quadratic; ANALYZE after 2,000, 4,000, 8,000 … inserted rows.
ANALYZE_FIRST = 2000
COMPARED = ("dn", "account", "account_key", "name", "email", "email_key", "employee_id", "office", "enabled")
_USER_COLUMNS = (USERS.c.ext_id, USERS.c.dn, USERS.c.account, USERS.c.name, USERS.c.email, USERS.c.employee_id,
                 USERS.c.office, USERS.c.enabled, USERS.c.removed_at)
_BY_NUMBER = (
    select(USERS.c.id, USERS.c.name, USERS.c.email)
    .join(NUMBERS, NUMBERS.c.user_id == USERS.c.id)
    .where(NUMBERS.c.number_key == bindparam("key"), USERS.c.enabled.is_(True), USERS.c.removed_at.is_(None))
    .distinct()
    .limit(2)
)


def _rowcount(result: Result[Any]) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes; every time we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


class SqlDirectoryStore:
    def __init__(self, sessions: sessionmaker[Session], reads: sessionmaker[Session] | None = None) -> None:
        self._sessions = sessions
        self._reads = reads or sessions
        self._read_engine: Engine = self._reads.kw["bind"]
        self._postgres = self._read_engine.dialect.name == "postgresql"
        self._inserted = 0
        self._analyze_at = ANALYZE_FIRST

    # --- the sync state and its lease ------------------------------------------------------------
    def state(self) -> SyncState | None:
        with self._reads() as s:
            row = s.execute(select(STATE).where(STATE.c.source == SOURCE)).mappings().first()
        if row is None:
            return None
        return SyncState(run=row["run"], running_since=_aware(row["running_since"]), high_water=row["high_water"],
                         source_key=row["source_key"], server_id=row["server_id"],
                         plan_fingerprint=row["plan_fingerprint"], last_attempt_at=_aware(row["last_attempt_at"]),
                         last_success_at=_aware(row["last_success_at"]), last_full_at=_aware(row["last_full_at"]),
                         last_error=row["last_error"])

    def begin_run(self, lease_seconds: float, *, now: dt.datetime) -> int:
        """Take the sync lease and return the new run number; SyncInProgress if another sync holds it.
        ``now`` (like every ``now`` below) is the sync's clock: the lease and the state's times are compared
        with readings of that same clock only."""
        expired = now - dt.timedelta(seconds=lease_seconds)
        self._ensure_state_row()
        with self._sessions.begin() as s:
            taken = _rowcount(s.execute(
                update(STATE)
                .where(STATE.c.source == SOURCE, or_(STATE.c.running_since.is_(None), STATE.c.running_since < expired))
                .values(run=STATE.c.run + 1, running_since=now, last_attempt_at=now)))
            if taken != 1:
                raise SyncInProgress("another directory sync is running (its lease has not expired)")
            run: int = s.execute(select(STATE.c.run).where(STATE.c.source == SOURCE)).scalar_one()
        return run

    def finish_run(self, run: int, *, full: bool, high_water: str, source_key: str, server_id: str,
                   plan_fingerprint: str, now: dt.datetime) -> None:
        values: dict[str, Any] = {"running_since": None, "high_water": high_water, "source_key": source_key,
                                  "server_id": server_id, "plan_fingerprint": plan_fingerprint,
                                  "last_success_at": now, "last_error": ""}
        if full:
            values["last_full_at"] = now
        with self._sessions.begin() as s:
            done = s.execute(update(STATE).where(STATE.c.source == SOURCE, STATE.c.run == run).values(**values))
            if _rowcount(done) != 1:
                raise SyncInProgress("this directory sync lost its lease to another one; its result is not recorded")

    def fail_run(self, run: int, error: str) -> None:
        with self._sessions.begin() as s:
            s.execute(update(STATE).where(STATE.c.source == SOURCE, STATE.c.run == run)
                      .values(running_since=None, last_error=error[:1000]))

    def _ensure_state_row(self) -> None:
        with self._sessions() as s:
            if s.execute(select(STATE.c.source).where(STATE.c.source == SOURCE)).first() is not None:
                return
            try:
                s.execute(insert(STATE).values(source=SOURCE, run=0, high_water="", source_key="", server_id="",
                                               plan_fingerprint="", last_error=""))
                s.commit()
            except IntegrityError:  # another process created it first
                s.rollback()

    def _renew(self, s: Session, run: int, now: dt.datetime) -> None:
        renewed = _rowcount(s.execute(update(STATE).where(STATE.c.source == SOURCE, STATE.c.run == run)
                                      .values(running_since=now)))
        if renewed != 1:
            raise SyncInProgress("this directory sync lost its lease to another one")

    # --- writing users -----------------------------------------------------------------------------
    def apply_users(self, users: Sequence[DirectoryUser], run: int,
                    number_key: Callable[[str], str | None], *, now: dt.datetime) -> PageCounts:
        """Insert or update one page of users (one transaction) and stamp them with ``run``."""
        counts = PageCounts()
        latest = {u.ext_id: u for u in users}
        if not latest:
            return counts
        with self._sessions.begin() as s:
            self._renew(s, run, now)
            old_rows = {r["ext_id"]: r for r in s.execute(
                select(USERS.c.id, *_USER_COLUMNS[:1], *(USERS.c[c] for c in COMPARED), USERS.c.removed_at)
                .where(USERS.c.ext_id.in_(list(latest)))).mappings()}
            old_numbers: dict[int, set[tuple[str, str, str]]] = defaultdict(set)
            if old_rows:
                for n in s.execute(select(NUMBERS.c.user_id, NUMBERS.c.kind, NUMBERS.c.raw, NUMBERS.c.number_key)
                                   .where(NUMBERS.c.user_id.in_([r["id"] for r in old_rows.values()]))):
                    old_numbers[n.user_id].add((n.kind, n.raw, n.number_key))
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            unchanged: list[int] = []
            new_numbers: dict[str, set[tuple[str, str, str]]] = {}
            for ext_id, user in latest.items():
                values = _values(user)
                keyed = {(kind, raw, key) for kind, raw in user.numbers if (key := number_key(raw)) is not None}
                old = old_rows.get(ext_id)
                if old is None:
                    inserts.append({**values, "ext_id": ext_id, "change_mark": user.change_mark, "seen_run": run,
                                    "removed_at": None, "updated_at": now})
                    new_numbers[ext_id] = keyed
                    counts.added += 1
                    continue
                same = all(old[c] == values[c] for c in COMPARED) and old_numbers[old["id"]] == keyed
                if same and old["removed_at"] is None:
                    unchanged.append(old["id"])
                    counts.unchanged += 1
                    continue
                if old["removed_at"] is not None:
                    counts.added += 1  # back in the directory
                else:
                    counts.changed += 1
                    if old["enabled"] and not user.enabled:
                        counts.disabled += 1
                updates.append({**values, "_id": old["id"], "change_mark": user.change_mark, "seen_run": run,
                                "removed_at": None, "updated_at": now})
                new_numbers[ext_id] = keyed
            conn = s.connection()
            ids = {ext_id: old["id"] for ext_id, old in old_rows.items()}
            if inserts:
                for row in conn.execute(insert(USERS).returning(USERS.c.id, USERS.c.ext_id), inserts):
                    ids[row.ext_id] = row.id
            if updates:
                conn.execute(update(USERS).where(USERS.c.id == bindparam("_id")).values(
                    {c: bindparam(c) for c in (*COMPARED, "change_mark", "seen_run", "removed_at", "updated_at")}),
                    updates)
                conn.execute(delete(NUMBERS).where(NUMBERS.c.user_id.in_([u["_id"] for u in updates])))
            if unchanged:
                conn.execute(update(USERS).where(USERS.c.id.in_(unchanged)).values(seen_run=run))
            rows = [{"user_id": ids[ext_id], "kind": kind, "raw": raw, "number_key": key}
                    for ext_id, keyed in new_numbers.items() for kind, raw, key in sorted(keyed)]
            if rows:
                conn.execute(insert(NUMBERS), rows)
        self._inserted += len(inserts)
        if self._postgres and self._inserted >= self._analyze_at:
            with self._sessions.begin() as s:
                s.execute(text("ANALYZE directory_users"))
                s.execute(text("ANALYZE directory_numbers"))
            self._analyze_at *= 2
        return counts

    def mark_seen(self, ext_ids: Sequence[str], run: int, *, now: dt.datetime) -> int:
        """Stamp users the directory still returns (the id-only pass of an incremental sync)."""
        if not ext_ids:
            return 0
        with self._sessions.begin() as s:
            self._renew(s, run, now)
            seen = _rowcount(s.execute(update(USERS).where(USERS.c.ext_id.in_(list(set(ext_ids))))
                                       .values(seen_run=run)))
        return seen

    def sweep_unseen(self, run: int, *, now: dt.datetime) -> int:
        """Mark removed every user not seen by the complete pass of ``run``. Returns how many."""
        with self._sessions.begin() as s:
            self._renew(s, run, now)
            removed = _rowcount(s.execute(
                update(USERS).where(and_(USERS.c.seen_run < run, USERS.c.removed_at.is_(None)))
                .values(removed_at=now, updated_at=now)))
        return removed

    # --- reading -----------------------------------------------------------------------------------
    def active_by_number(self, key: str) -> list[tuple[str, str]]:
        """(name, email) of the active users that have this number key; at most two (two = ambiguous).
        One indexed query on a pooled connection (no ORM session: this runs for every classification)."""
        with self._read_engine.connect() as conn:
            return [(r.name, r.email) for r in conn.execute(_BY_NUMBER, {"key": key})]

    def by_email(self, email: str) -> list[StoredUser]:
        """Active users with this e-mail address (case-insensitive): maps mailboxes to users by mail."""
        return self._users(USERS.c.email_key == email.strip().lower(), active_only=True)

    def by_account(self, account: str) -> StoredUser | None:
        """The active user with this sign-in name (sAMAccountName / uid): maps web accounts to users."""
        found = self._users(USERS.c.account_key == account.strip().lower(), active_only=True)
        return found[0] if len(found) == 1 else None

    def user(self, ext_id: str) -> StoredUser | None:
        found = self._users(USERS.c.ext_id == ext_id, active_only=False)
        return found[0] if found else None

    def counts(self) -> dict[str, int]:
        """users (ever synced, not removed), active (enabled and present), numbers (of active users)."""
        with self._reads() as s:
            present = s.execute(select(func.count()).select_from(USERS)
                                .where(USERS.c.removed_at.is_(None))).scalar_one()
            active = s.execute(select(func.count()).select_from(USERS).where(
                USERS.c.removed_at.is_(None), USERS.c.enabled.is_(True))).scalar_one()
            numbers = s.execute(select(func.count()).select_from(NUMBERS).join(USERS, NUMBERS.c.user_id == USERS.c.id)
                                .where(USERS.c.removed_at.is_(None), USERS.c.enabled.is_(True))).scalar_one()
        return {"users": int(present), "active": int(active), "numbers": int(numbers)}

    def _users(self, where: Any, *, active_only: bool) -> list[StoredUser]:
        stmt = select(*_USER_COLUMNS).where(where).order_by(USERS.c.id).limit(50)
        if active_only:
            stmt = stmt.where(USERS.c.enabled.is_(True), USERS.c.removed_at.is_(None))
        with self._reads() as s:
            return [StoredUser(ext_id=r.ext_id, dn=r.dn, account=r.account, name=r.name, email=r.email,
                               employee_id=r.employee_id, office=r.office, enabled=bool(r.enabled),
                               removed=r.removed_at is not None) for r in s.execute(stmt)]


def _values(user: DirectoryUser) -> dict[str, Any]:
    return {"dn": user.dn, "account": user.account, "account_key": user.account.lower(), "name": user.name,
            "email": user.email, "email_key": user.email.lower(), "employee_id": user.employee_id,
            "office": user.office, "enabled": user.enabled}
