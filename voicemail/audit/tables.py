"""Tables of the audit trail, roles, cases, holds, release requests and CDRs (SQLAlchemy Core).

They live on the project's one metadata (voicemail.db.models.Base) so Alembic sees them; the schema is
created by migration 0004.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from voicemail.db.models import Base

metadata = Base.metadata

audit_events = Table(
    "audit_events", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(80), nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("source", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("case_id", String(64), nullable=True),
    Column("request_ref", String(120), nullable=True),
    Column("message_id", String(36), nullable=True),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_actor", "actor"),
    Index("ix_audit_events_case_id", "case_id"),
    Index("ix_audit_events_message_id", "message_id"),
)

# One row (id = 1): the chain head, and where the retained chain starts (after sealed epochs).
audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("base_seq", BigInteger, nullable=False),
    Column("base_hash", String(64), nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints", metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("at", String(32), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("signature", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
)

role_grants = Table(
    "role_grants", metadata,
    Column("id", Integer, primary_key=True),
    Column("principal", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("granted_by", String(200), nullable=False),
    Column("granted_at", String(32), nullable=False),
    Column("revoked_by", String(200), nullable=True),
    Column("revoked_at", String(32), nullable=True),
    Index("ix_role_grants_principal", "principal"),
)

cases = Table(
    "cases", metadata,
    Column("id", String(64), primary_key=True),
    Column("authority", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("owner", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("numbers", Text, nullable=False),  # JSON list of phone numbers under investigation
    Column("opened_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=True),
)

case_members = Table(
    "case_members", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("principal", String(200), primary_key=True),
)

holds = Table(
    "holds", metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(64), nullable=False, index=True),
    Column("scope", String(10), nullable=False),  # mailbox | range | message
    Column("context", String(80), nullable=True),
    Column("mailbox", String(80), nullable=True),
    Column("site", String(64), nullable=True),  # NULL: every site (migration 0016)
    Column("message_id", String(36), nullable=True),
    Column("start_at", BigInteger, nullable=True),  # epoch seconds (origtime), inclusive
    Column("end_at", BigInteger, nullable=True),  # exclusive
    Column("placed_by", String(200), nullable=False),
    Column("placed_at", String(32), nullable=False),
    Column("released_by", String(200), nullable=True),
    Column("released_at", String(32), nullable=True),
)

release_requests = Table(
    "release_requests", metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(10), nullable=False),  # evidence | cdr
    Column("case_id", String(64), nullable=False, index=True),
    Column("request_ref", String(120), nullable=False),
    Column("requester", String(200), nullable=False),
    Column("requested_at", String(32), nullable=False),
    Column("status", String(10), nullable=False),  # pending | approved | exported
    Column("approver", String(200), nullable=True),
    Column("approved_at", String(32), nullable=True),
    Column("params", Text, nullable=False),  # JSON
)

cdrs = Table(
    "cdrs", metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(64), nullable=False, server_default="default"),  # whose Asterisk (migration 0019)
    Column("unique_id", String(64), nullable=False, index=True),
    Column("system_name", String(80), nullable=False),
    Column("account_code", String(80), nullable=False),
    Column("source", String(80), nullable=False, index=True),
    Column("destination", String(80), nullable=False, index=True),
    Column("destination_context", String(80), nullable=False),
    Column("caller_id", String(200), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("destination_channel", String(200), nullable=False),
    Column("last_application", String(80), nullable=False),
    Column("last_data", Text, nullable=False),
    Column("start_time", String(32), nullable=False, index=True),
    Column("answer_time", String(32), nullable=False),
    Column("end_time", String(32), nullable=False),
    Column("duration", Integer, nullable=False),
    Column("billable_seconds", Integer, nullable=False),
    Column("disposition", String(32), nullable=False),
    Column("ama_flags", String(32), nullable=False),
    Column("user_field", Text, nullable=False),
    Column("received_at", String(32), nullable=False),
)
