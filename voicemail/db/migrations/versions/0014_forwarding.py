"""forwarding: the forwarded copy of a message, who sent it on and their comment

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 15:00:00

message_forwards: one row per forwarded message (the recipient's message id), the message it was copied
from, the forwarding account and how the recipient sees it named, and the optional text comment. The
recipient's message is a row of ``messages`` like any other; while the copy is on its way to Asterisk it
is in state ``forwarding`` (never listed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_forwards",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("source_message_id", sa.String(length=36), nullable=False),
        sa.Column("forwarded_by", sa.String(length=200), nullable=False),
        sa.Column("forwarder_label", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE",
                                name=op.f("fk_message_forwards_message_id_messages")),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_forwards")),
    )
    op.create_index(op.f("ix_message_forwards_source_message_id"), "message_forwards", ["source_message_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_message_forwards_source_message_id"), table_name="message_forwards")
    op.drop_table("message_forwards")
