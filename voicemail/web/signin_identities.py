"""Identities from other sign-in methods mapped to web accounts: PIV/CAC certificates and OIDC subjects.

``signin_identities`` rows are (kind, key) -> account: kind ``piv`` with a certificate identity key
(voicemail.web.piv_cert.identity_keys: ``sha256:…``, ``upn:…``, ``fascn:…``, ``uuid:…``), or kind
``oidc`` with ``<issuer> <claim value>``. (kind, key) is unique, so one key names at most one account;
a certificate whose several keys name different accounts is refused as ambiguous.
``oidc_pending`` holds the state of OIDC sign-ins in flight (single use, ten minutes).
Both tables are created by migration 0008.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    delete,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from voicemail.db.models import Base
from voicemail.domain.errors import VoicemailError
from voicemail.web.tables import web_accounts

metadata = Base.metadata
KINDS = ("piv", "oidc")

signin_identities = Table(
    "signin_identities", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("key", String(512), nullable=False),
    Column("account_id", Integer, ForeignKey("web_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(200), nullable=False, default=""),  # e.g. the certificate subject, for listings
    Column("created_by", String(200), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("kind", "key", name="uq_signin_identities_kind_key"),
    Index("ix_signin_identities_account_id", "account_id"),
)

oidc_pending = Table(
    "oidc_pending", metadata,
    Column("state_hash", String(64), primary_key=True),  # SHA-256 of the state parameter
    Column("browser_hash", String(64), nullable=False),  # SHA-256 of the binding cookie
    Column("nonce", String(128), nullable=False),
    Column("code_verifier", String(128), nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_oidc_pending_expires_at", "expires_at"),
)


class IdentityError(VoicemailError):
    """A mapping that cannot be recorded (unknown account, key already mapped…)."""


@dataclass(frozen=True)
class Identity:
    kind: str
    key: str
    account_id: int
    username: str
    label: str


def oidc_key(issuer: str, value: str) -> str:
    return f"{issuer.rstrip('/')} {value}"


class IdentityStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def accounts_for(self, kind: str, keys: Sequence[str]) -> set[int]:
        """Every account any of the keys is mapped to (the caller demands exactly one)."""
        if not keys:
            return set()
        query = select(signin_identities.c.account_id).where(signin_identities.c.kind == kind,
                                                             signin_identities.c.key.in_(list(keys)))
        with self._engine.connect() as conn:
            return {int(row[0]) for row in conn.execute(query)}

    def map(self, kind: str, key: str, username: str, *, label: str = "", actor: str = "") -> int:
        """Map key to the account named username; returns the account id."""
        if kind not in KINDS:
            raise IdentityError(f"unknown identity kind {kind!r}")
        if not key or len(key) > 512:
            raise IdentityError("identity key must be 1 to 512 characters")
        with self._engine.begin() as conn:
            account = conn.execute(select(web_accounts.c.id).where(web_accounts.c.username == username)).first()
            if account is None:
                raise IdentityError(f"no web account named {username[:64]!r}")
            try:
                conn.execute(insert(signin_identities).values(kind=kind, key=key, account_id=int(account[0]),
                                                              label=label[:200], created_by=actor[:200],
                                                              created_at=time.time()))
            except IntegrityError:
                raise IdentityError(f"{kind} identity {key[:80]!r} is already mapped to an account "
                                    "(unmap it first)") from None
        return int(account[0])

    def unmap(self, kind: str, key: str) -> bool:
        with self._engine.begin() as conn:
            done = conn.execute(delete(signin_identities).where(signin_identities.c.kind == kind,
                                                                signin_identities.c.key == key))
        return bool(done.rowcount)

    def list(self, username: str | None = None) -> list[Identity]:
        query = (select(signin_identities.c.kind, signin_identities.c.key, signin_identities.c.account_id,
                        web_accounts.c.username, signin_identities.c.label)
                 .join(web_accounts, web_accounts.c.id == signin_identities.c.account_id)
                 .order_by(web_accounts.c.username, signin_identities.c.kind, signin_identities.c.key))
        if username is not None:
            query = query.where(web_accounts.c.username == username)
        with self._engine.connect() as conn:
            return [Identity(r[0], r[1], int(r[2]), r[3], r[4]) for r in conn.execute(query)]
