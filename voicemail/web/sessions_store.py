"""Server-side sessions on SQL. The cookie holds a random 256-bit id; the table holds only its SHA-256,
so a copy of the database cannot be replayed as cookies. ``account_id`` None = a pre-sign-in session
(it only carries the CSRF token of the sign-in form)."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Engine

from voicemail.web.tables import web_sessions

PRE_SIGNIN_LIFETIME = 3600.0  # a sign-in form is good for an hour
_TOUCH_EVERY = 30.0  # last_seen is written at most this often per session


def id_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True)
class SessionInfo:
    id_hash: str
    account_id: int | None
    csrf_token: str
    method: str
    created_at: float
    last_seen: float


class SessionStore:
    def __init__(self, engine: Engine, idle: float, absolute: float, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self.idle = idle
        self.absolute = absolute
        self._clock = clock

    def create(self, account_id: int | None, method: str = "", source: str = "") -> tuple[str, SessionInfo]:
        """A brand-new session (never a caller-chosen id). Returns (cookie value, info)."""
        raw = secrets.token_urlsafe(32)
        now = self._clock()
        info = SessionInfo(id_hash(raw), account_id, secrets.token_urlsafe(32), method[:20], now, now)
        with self._engine.begin() as conn:
            conn.execute(insert(web_sessions).values(id_hash=info.id_hash, account_id=account_id,
                                                     csrf_token=info.csrf_token, method=info.method,
                                                     source=source[:64], created_at=now, last_seen=now))
        return raw, info

    def lookup(self, raw: str | None, *, touch: bool = True) -> SessionInfo | None:
        """The live session for a cookie value, or None (unknown, idle too long, or too old). ``touch=False``:
        the request does not count as activity (a page asking for news on its own)."""
        if not raw or len(raw) > 128:
            return None
        key = id_hash(raw)
        with self._engine.connect() as conn:
            row = conn.execute(select(web_sessions).where(web_sessions.c.id_hash == key)).mappings().first()
        if row is None:
            return None
        now = self._clock()
        absolute = self.absolute if row["account_id"] is not None else PRE_SIGNIN_LIFETIME
        idle = self.idle if row["account_id"] is not None else PRE_SIGNIN_LIFETIME
        if now - row["created_at"] > absolute or now - row["last_seen"] > idle:
            self.destroy_hash(key)
            return None
        if touch and now - row["last_seen"] > _TOUCH_EVERY:
            with self._engine.begin() as conn:
                conn.execute(update(web_sessions).where(web_sessions.c.id_hash == key).values(last_seen=now))
        return SessionInfo(key, row["account_id"], row["csrf_token"], row["method"], row["created_at"], now)

    def destroy(self, raw: str | None) -> None:
        if raw and len(raw) <= 128:
            self.destroy_hash(id_hash(raw))

    def destroy_hash(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == key))

    def destroy_account(self, account_id: int) -> int:
        """End every session of an account (password change, disable)."""
        with self._engine.begin() as conn:
            return int(conn.execute(delete(web_sessions).where(web_sessions.c.account_id == account_id)).rowcount)

    def purge_expired(self) -> int:
        now = self._clock()
        signed_in = web_sessions.c.account_id.is_not(None)
        with self._engine.begin() as conn:
            done = conn.execute(delete(web_sessions).where(or_(
                signed_in & ((web_sessions.c.last_seen < now - self.idle)
                             | (web_sessions.c.created_at < now - self.absolute)),
                ~signed_in & (web_sessions.c.created_at < now - PRE_SIGNIN_LIFETIME))))
        return int(done.rowcount)
