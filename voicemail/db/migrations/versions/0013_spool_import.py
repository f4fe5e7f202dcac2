"""spool import: one row per `voicemail import` run (resumable)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 12:30:00

import_runs: the messages older than ``cutoff`` (Asterisk origtime) belong to the run; ``notify`` says
whether they are announced; ``state`` running | interrupted | done; counts as of the last batch.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("cutoff", sa.BigInteger(), nullable=False),
        sa.Column("notify", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    op.create_index(op.f("ix_import_runs_state"), "import_runs", ["state"])


def downgrade() -> None:
    op.drop_index(op.f("ix_import_runs_state"), table_name="import_runs")
    op.drop_table("import_runs")
