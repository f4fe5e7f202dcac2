"""lifecycle: retention, destruction records, quota alerts, key usage counters

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 22:30:00

Tables only (see voicemail/lifecycle/tables.py); no change to existing tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kek_usage",
        sa.Column("kek_id", sa.String(64), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("wraps", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("superseded_at", sa.Float(), nullable=True),
        sa.Column("destroyed_at", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("kek_id", name=op.f("pk_kek_usage")),
    )
    op.create_table(
        "key_rotations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("new_kek", sa.String(64), nullable=False),
        sa.Column("old_keks", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32), nullable=True),
        sa.Column("rewrapped", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_rotations")),
    )
    op.create_table(
        "lifecycle_leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(120), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_lifecycle_leases")),
    )
    op.create_table(
        "destruction_records",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("destroyed", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destruction_records")),
    )
    op.create_table(
        "quota_alerts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("context", sa.String(80), nullable=True),
        sa.Column("mailbox", sa.String(80), nullable=True),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("used_bytes", sa.BigInteger(), nullable=False),
        sa.Column("limit_bytes", sa.BigInteger(), nullable=False),
        sa.Column("resolved_at", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_alerts")),
    )
    op.create_table(
        "expiry_warnings",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("warned_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_expiry_warnings")),
    )


def downgrade() -> None:
    for table in ("expiry_warnings", "quota_alerts", "destruction_records", "lifecycle_leases", "key_rotations",
                  "kek_usage"):
        op.drop_table(table)
