"""Local web accounts on SQL: who may sign in, their roles, mailboxes, numbers and own settings.

``AccountStore.by_id(account_id)`` is the lookup the PIV / OIDC sign-in uses once a certificate or an
identity provider has mapped a person to an account id.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from voicemail.domain.errors import Conflict, IntegrityError, InvalidInput, KeyringError, NotFound
from voicemail.domain.models import MailboxRef, WrappedKey
from voicemail.domain.ports import Keyring
from voicemail.web.auth import totp
from voicemail.web.auth.passwords import hash_password
from voicemail.web.settings_rules import check_settings
from voicemail.web.tables import web_accounts

log = logging.getLogger(__name__)
ROLES = ("owner", "administrator")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}\Z")


def check_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InvalidInput("a user name is 1-64 letters, digits, '.', '_', '@' or '-'")
    return username


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    password_hash: str | None
    roles: frozenset[str]
    mailboxes: tuple[MailboxRef, ...]
    numbers: tuple[str, ...]
    notify_address: str
    timezone: str
    language: str
    totp_enabled: bool
    failed_count: int
    locked_until: float | None
    disabled: bool

    def locked(self, now: float) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def public(self) -> dict[str, Any]:
        return {"username": self.username, "roles": sorted(self.roles),
                "mailboxes": [m.qualified for m in self.mailboxes], "numbers": list(self.numbers),
                "totp_enabled": self.totp_enabled}


def _split(text: str) -> list[str]:
    return [part for part in (text or "").split(",") if part]


def _account(row: RowMapping) -> Account:
    return Account(
        id=int(row["id"]), username=row["username"], password_hash=row["password_hash"],
        roles=frozenset(_split(row["roles"])),
        mailboxes=tuple(MailboxRef.parse(m) for m in _split(row["mailboxes"])),
        numbers=tuple(_split(row["numbers"])), notify_address=row["notify_address"], timezone=row["timezone"],
        language=row["language"], totp_enabled=row["totp_blob"] is not None, failed_count=int(row["failed_count"]),
        locked_until=row["locked_until"], disabled=bool(row["disabled"]))


def _roles(roles: Iterable[str]) -> str:
    out = sorted(set(roles))
    for role in out:
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role[:20]!r} (owner or administrator)")
    return ",".join(out)


def _numbers(numbers: Iterable[str]) -> str:
    out = [n.strip() for n in numbers if n.strip()]
    for n in out:
        if not _NUMBER.match(n):
            raise InvalidInput(f"not a phone number or extension: {n[:20]!r}")
    return ",".join(out)


class AccountStore:
    def __init__(self, engine: Engine, keyring: Keyring | None = None, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._keyring = keyring
        self._clock = clock

    @property
    def engine(self) -> Engine:
        return self._engine

    # --- lookups -------------------------------------------------------------------------------
    def by_id(self, account_id: int) -> Account | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(web_accounts).where(web_accounts.c.id == account_id)).mappings().first()
        return _account(row) if row else None

    def by_username(self, username: str) -> Account | None:
        if not isinstance(username, str) or not _USERNAME.match(username):
            return None
        with self._engine.connect() as conn:
            row = conn.execute(select(web_accounts).where(web_accounts.c.username == username)).mappings().first()
        return _account(row) if row else None

    def all(self) -> list[Account]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(web_accounts).order_by(web_accounts.c.username)).mappings().all()
        return [_account(r) for r in rows]

    def require(self, username: str) -> Account:
        account = self.by_username(username)
        if account is None:
            raise NotFound(f"no web account {username[:64]!r}")
        return account

    # --- administration ------------------------------------------------------------------------
    def add(self, username: str, *, roles: Iterable[str], mailboxes: Iterable[MailboxRef] = (),
            numbers: Iterable[str] = (), password: str | None = None) -> Account:
        check_username(username)
        now = self._clock()
        values = {"username": username, "password_hash": hash_password(password) if password is not None else None,
                  "roles": _roles(roles), "mailboxes": ",".join(m.qualified for m in mailboxes),
                  "numbers": _numbers(numbers), "notify_address": "", "timezone": "", "language": "",
                  "failed_count": 0, "disabled": False, "created_at": now, "updated_at": now}
        try:
            with self._engine.begin() as conn:
                new_id = conn.execute(insert(web_accounts).values(**values)).inserted_primary_key
        except SqlIntegrityError:
            raise Conflict(f"web account {username!r} already exists") from None
        assert new_id is not None
        account = self.by_id(int(new_id[0]))
        assert account is not None
        return account

    def _update(self, account_id: int, **values: Any) -> None:
        values["updated_at"] = self._clock()
        with self._engine.begin() as conn:
            done = conn.execute(update(web_accounts).where(web_accounts.c.id == account_id).values(**values))
        if done.rowcount != 1:
            raise NotFound("no such web account")

    def set_password(self, account_id: int, password: str) -> None:
        self._update(account_id, password_hash=hash_password(password), failed_count=0, locked_until=None)

    def set_disabled(self, account_id: int, disabled: bool) -> None:
        self._update(account_id, disabled=disabled)

    def unlock(self, account_id: int) -> None:
        self._update(account_id, failed_count=0, locked_until=None)

    def update_settings(self, account_id: int, *, notify_address: str, timezone: str, language: str) -> Account:
        clean = check_settings(notify_address, timezone, language)
        self._update(account_id, **clean)
        account = self.by_id(account_id)
        assert account is not None
        return account

    # --- TOTP ----------------------------------------------------------------------------------
    def _need_keyring(self) -> Keyring:
        if self._keyring is None:
            raise InvalidInput("TOTP needs the keyring (setting keyring)")
        return self._keyring

    def enable_totp(self, account_id: int) -> str:
        """Make a new secret, store it wrapped, return the otpauth:// URI (shown once)."""
        account = self.by_id(account_id)
        if account is None:
            raise NotFound("no such web account")
        key = totp.new_key()
        wrapped = self._need_keyring().wrap(key, totp.context_for(account_id))
        self._update(account_id, totp_kek_id=wrapped.kek_id, totp_blob=wrapped.blob, totp_last_step=None)
        return totp.provisioning_uri(key, account.username)

    def pending_totp_keyring(self) -> Keyring:
        """The keyring that wraps a secret while its owner enrols it (see ``voicemail.web.totp_enrolment``)."""
        return self._need_keyring()

    def confirm_totp(self, account_id: int, key: bytes, code: str) -> bool:
        """Store ``key`` as the account's TOTP secret if ``code`` is its current code; that step is used up."""
        step = totp.matching_step(key, code, at=self._clock())
        if step is None:
            return False
        wrapped = self._need_keyring().wrap(key, totp.context_for(account_id))
        self._update(account_id, totp_kek_id=wrapped.kek_id, totp_blob=wrapped.blob, totp_last_step=step)
        return True

    def disable_totp(self, account_id: int) -> None:
        self._update(account_id, totp_kek_id=None, totp_blob=None, totp_last_step=None)

    def totp_key(self, account_id: int) -> bytes | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(web_accounts.c.totp_kek_id, web_accounts.c.totp_blob)
                               .where(web_accounts.c.id == account_id)).first()
        if row is None or row[1] is None:
            return None
        return self._need_keyring().unwrap(WrappedKey(kek_id=row[0], blob=bytes(row[1])), totp.context_for(account_id))

    def totp_wrapped_by(self, kek_id: str) -> int:
        """How many TOTP secrets a KEK wraps (a KEK must not be retired while this is above 0)."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(web_accounts)
                                    .where(web_accounts.c.totp_kek_id == kek_id,
                                           web_accounts.c.totp_blob.is_not(None))).scalar_one())

    def rewrap_totp(self) -> int:
        """Re-wrap every TOTP secret not under the current KEK (part of a KEK rotation). Returns how many."""
        keyring = self._need_keyring()
        current = keyring.current_kek_id()
        with self._engine.connect() as conn:
            rows = conn.execute(select(web_accounts.c.id, web_accounts.c.totp_kek_id, web_accounts.c.totp_blob)
                                .where(web_accounts.c.totp_blob.is_not(None),
                                       web_accounts.c.totp_kek_id != current)).all()
        for account_id, kek_id, blob in rows:
            context = totp.context_for(account_id)
            wrapped = keyring.wrap(keyring.unwrap(WrappedKey(kek_id=kek_id, blob=bytes(blob)), context), context)
            with self._engine.begin() as conn:  # only if nobody changed it meanwhile
                conn.execute(update(web_accounts).where(web_accounts.c.id == account_id,
                                                        web_accounts.c.totp_kek_id == kek_id)
                             .values(totp_kek_id=wrapped.kek_id, totp_blob=wrapped.blob))
        return len(rows)

    def check_totp(self, account_id: int, code: str) -> bool:
        """Verify a code and consume its time step atomically (a code works once)."""
        try:
            key = self.totp_key(account_id)
        except (KeyringError, IntegrityError):
            log.error("the TOTP secret of web account %d cannot be unwrapped (KEK retired?): re-enrol it with "
                      "`voicemail accounts totp enable`", account_id)
            return False
        if key is None:
            return False
        with self._engine.connect() as conn:
            last = conn.execute(select(web_accounts.c.totp_last_step).where(web_accounts.c.id == account_id)).scalar()
        step = totp.matching_step(key, code, at=self._clock(), after_step=last)
        if step is None:
            return False
        col = web_accounts.c.totp_last_step
        with self._engine.begin() as conn:
            done = conn.execute(update(web_accounts).where(web_accounts.c.id == account_id)
                                .where((col.is_(None)) | (col < step)).values(totp_last_step=step))
        return done.rowcount == 1

    # --- lockout -------------------------------------------------------------------------------
    def record_failure(self, account_id: int, threshold: int, lock_seconds: float) -> bool:
        """Count a failed sign-in; True when this failure locked the account."""
        col = web_accounts.c.failed_count
        with self._engine.begin() as conn:
            count = conn.execute(update(web_accounts).where(web_accounts.c.id == account_id)
                                 .values(failed_count=col + 1).returning(col)).scalar()
            if count is not None and count >= threshold:
                conn.execute(update(web_accounts).where(web_accounts.c.id == account_id)
                             .values(locked_until=self._clock() + lock_seconds, failed_count=0))
                return True
        return False

    def record_success(self, account_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(web_accounts).where(web_accounts.c.id == account_id)
                         .values(failed_count=0, locked_until=None))
