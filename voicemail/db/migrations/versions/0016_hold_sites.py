"""hold sites: a legal hold may name the site (Asterisk) whose mailbox it covers

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 18:00:00

holds.site names the site of the held mailbox (or, for a time-range hold over every mailbox, of the
messages it covers). NULL, which every hold placed before has, covers that mailbox on every site.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("holds") as batch:
        batch.add_column(sa.Column("site", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("holds") as batch:
        batch.drop_column("site")
