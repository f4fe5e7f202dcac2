"""Tables of the web app: local accounts and server-side sessions (SQLAlchemy Core).

They live on the project's one metadata (voicemail.db.models.Base); the schema is created by
migration 0005. Times are epoch seconds (float). A session row stores only the SHA-256 of its id.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

from voicemail.db.models import Base

metadata = Base.metadata

web_accounts = Table(
    "web_accounts", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=True),  # None: no password sign-in (PIV / OIDC only)
    Column("roles", String(200), nullable=False, default=""),  # comma-separated
    Column("mailboxes", Text, nullable=False, default=""),  # comma-separated mailbox@context
    Column("numbers", Text, nullable=False, default=""),  # comma-separated numbers / extensions
    Column("notify_address", String(254), nullable=False, default=""),
    Column("timezone", String(64), nullable=False, default=""),
    Column("language", String(16), nullable=False, default=""),
    Column("totp_kek_id", String(64), nullable=True),  # TOTP secret wrapped by the keyring (never plaintext)
    Column("totp_blob", LargeBinary, nullable=True),
    Column("totp_last_step", Integer, nullable=True),  # last accepted 30 s step: a code is never reused
    Column("failed_count", Integer, nullable=False, default=0),
    Column("locked_until", Float, nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 hex of the cookie value
    Column("account_id", Integer, ForeignKey("web_accounts.id", ondelete="CASCADE"), nullable=True),  # None = pre-auth
    Column("csrf_token", String(64), nullable=False),
    Column("method", String(20), nullable=False, default=""),
    Column("source", String(64), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Index("ix_web_sessions_account_id", "account_id"),
    Index("ix_web_sessions_last_seen", "last_seen"),
)
