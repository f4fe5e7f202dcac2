"""custody under faults: delivery counts and seal attempts of messages, retry times, notification leases

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 08:00:00

messages.deliveries counts custody runs started and not finished cleanly (a run that killed its worker
stays counted: the crash-loop limit); messages.seal_attempt is the attempt token of the newest run (its
blob names carry it; only that run may commit); messages.retry_at is when a failed run is retried.
notifications.lease_token / lease_until: the fencing token and lease of the worker sending it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deliveries", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("seal_attempt", sa.String(length=16), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_token", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_token")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("retry_at")
        batch_op.drop_column("seal_attempt")
        batch_op.drop_column("deliveries")
