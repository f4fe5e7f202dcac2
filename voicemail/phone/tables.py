"""The phone PIN table (SQLAlchemy Core on the project's metadata; migrations 0009, 0010 and 0017).

One row per mailbox (site, context, mailbox): the argon2id hash of its PIN (never the PIN), and the
failed-attempt counter and lock time that make the lockout hold across calls.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, PrimaryKeyConstraint, String, Table

from voicemail.db.models import Base

phone_pins = Table(
    "phone_pins", Base.metadata,
    Column("site", String(64), nullable=False, server_default="default"),  # the Asterisk the mailbox is on
    Column("context", String(80), nullable=False),
    Column("mailbox", String(80), nullable=False),
    Column("pin_hash", String(200), nullable=False),
    Column("failed_count", Integer, nullable=False, default=0),
    Column("locked_until", Float, nullable=True),  # epoch seconds; None = not locked
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(200), nullable=False, default=""),
    PrimaryKeyConstraint("site", "context", "mailbox", name="pk_phone_pins"),
)

# Extension mobility: one row per sign-in of a mailbox's extension on a device (created by migration
# 0010; site by 0017: the Asterisk of the device and the mailbox). ``signed_out_at`` None = still signed
# in; that site's AstDB holds the routing, this table the times.
hotdesk_sessions = Table(
    "hotdesk_sessions", Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False, server_default="default"),
    Column("device", String(80), nullable=False),
    Column("context", String(80), nullable=False),
    Column("mailbox", String(80), nullable=False),
    Column("signed_in_at", Float, nullable=False),  # epoch seconds
    Column("signed_out_at", Float, nullable=True),
    Column("ended_by", String(20), nullable=False, default=""),  # caller / expired / replaced / admin
    Column("source", String(200), nullable=False, default=""),
    Index("ix_hotdesk_sessions_device_open", "site", "device", "signed_out_at"),
    Index("ix_hotdesk_sessions_mailbox", "site", "context", "mailbox", "signed_in_at"),
)
