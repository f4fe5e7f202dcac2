"""hotdesk sessions: extension mobility sign-ins and sign-outs, with their times

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 08:40:00

hotdesk_sessions holds one row per sign-in of a mailbox's extension on a device: when it began,
when and how it ended (signed_out_at NULL while signed in). Asterisk's AstDB (family voicemail-em)
routes the calls; this table is what automatic sign-out and the call-history page read.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hotdesk_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device", sa.String(length=80), nullable=False),
        sa.Column("context", sa.String(length=80), nullable=False),
        sa.Column("mailbox", sa.String(length=80), nullable=False),
        sa.Column("signed_in_at", sa.Float(), nullable=False),
        sa.Column("signed_out_at", sa.Float(), nullable=True),
        sa.Column("ended_by", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hotdesk_sessions_device_open", "hotdesk_sessions", ["device", "signed_out_at"])
    op.create_index("ix_hotdesk_sessions_mailbox", "hotdesk_sessions", ["context", "mailbox", "signed_in_at"])


def downgrade() -> None:
    op.drop_index("ix_hotdesk_sessions_mailbox", table_name="hotdesk_sessions")
    op.drop_index("ix_hotdesk_sessions_device_open", table_name="hotdesk_sessions")
    op.drop_table("hotdesk_sessions")
