"""phone pins: argon2id hashes of the telephone menu's PINs, with the lockout counter

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 08:00:00

phone_pins holds one row per mailbox (context, mailbox): the argon2id hash of its PIN, the number of
failed PIN entries since the last success, and the time until which the mailbox is locked.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phone_pins",
        sa.Column("context", sa.String(length=80), nullable=False),
        sa.Column("mailbox", sa.String(length=80), nullable=False),
        sa.Column("pin_hash", sa.String(length=200), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("context", "mailbox", name="pk_phone_pins"),
    )


def downgrade() -> None:
    op.drop_table("phone_pins")
