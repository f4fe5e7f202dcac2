"""cdr sites: a call detail record belongs to the Asterisk (site) that reported it

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 21:00:00

cdrs.site names the Asterisk whose listener stored the Cdr event: extension 1001 on two sites is two
phones, and a call history or a CDR release for one site leaves the other's calls out. Rows recorded
before get the default site's name (site_name of the process that upgrades, handed over as the
"default_site" attribute; "default" without one), as 0015 did for the messages.

No index leads with the site: the queries that filter by it also match the number (source, destination,
channel) or the time, whose indexes narrow far more than the handful of sites.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    site = str(context.config.attributes.get("default_site") or "default")
    with op.batch_alter_table("cdrs") as batch:
        batch.add_column(sa.Column("site", sa.String(length=64), nullable=False, server_default="default"))
    op.execute(sa.table("cdrs", sa.column("site", sa.String)).update().values(site=site))


def downgrade() -> None:
    with op.batch_alter_table("cdrs") as batch:
        batch.drop_column("site")
