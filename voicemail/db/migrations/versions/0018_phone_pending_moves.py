"""pending moves: a folder move decided on the phone, recorded before Asterisk carries it out

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 18:00:00

pending_moves: one row per message whose owner saved it (or heard it) on the phone while Asterisk has not
yet confirmed the VoicemailMove; written in the transaction that changes messages.folder and audits the
decision, removed once a re-read of the mailbox shows the message in ``to_folder``. ``next_at`` is when
the move worker tries again after a failure (``attempts``, ``last_error``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_moves",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("from_folder", sa.String(length=16), nullable=False),
        sa.Column("to_folder", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=200), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE",
                                name=op.f("fk_pending_moves_message_id_messages")),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_pending_moves")),
    )
    op.create_index(op.f("ix_pending_moves_next_at"), "pending_moves", ["next_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pending_moves_next_at"), table_name="pending_moves")
    op.drop_table("pending_moves")
