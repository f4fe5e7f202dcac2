"""listener lease: which process listens to each Asterisk (site), with a fencing token

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 12:45:00

One row per site. token grows by one on every acquisition (the fencing token); expires_at is set from the
database's clock, never a host's, so hosts with skewed clocks agree on who holds the lease.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "listener_lease",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site", name=op.f("pk_listener_lease")),
    )


def downgrade() -> None:
    op.drop_table("listener_lease")
