"""The phone PIN table (SQLAlchemy Core on the project's metadata; created by migration 0009).

One row per mailbox: the argon2id hash of its PIN (never the PIN), and the failed-attempt counter and
lock time that make the lockout hold across calls.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, PrimaryKeyConstraint, String, Table

from voicemail.db.models import Base

phone_pins = Table(
    "phone_pins", Base.metadata,
    Column("context", String(80), nullable=False),
    Column("mailbox", String(80), nullable=False),
    Column("pin_hash", String(200), nullable=False),
    Column("failed_count", Integer, nullable=False, default=0),
    Column("locked_until", Float, nullable=True),  # epoch seconds; None = not locked
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(200), nullable=False, default=""),
    PrimaryKeyConstraint("context", "mailbox", name="pk_phone_pins"),
)
