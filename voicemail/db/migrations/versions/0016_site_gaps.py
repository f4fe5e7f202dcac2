"""site gaps: a legal hold may name a site; each site's spool import runs on its own

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 18:00:00

holds.site names the site of the held mailbox (or, for a time-range hold over every mailbox, of the
messages it covers). NULL, which every hold placed before has, covers that mailbox on every site.

import_runs.site names the site whose spool the run imports: each site resumes its own run. Runs recorded
before get the default site's name (site_name of the process that upgrades, handed over as the
"default_site" attribute; "default" without one), as 0015 did for the messages.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("holds") as batch:
        batch.add_column(sa.Column("site", sa.String(length=64), nullable=True))
    site = str(context.config.attributes.get("default_site") or "default")
    with op.batch_alter_table("import_runs") as batch:
        batch.add_column(sa.Column("site", sa.String(length=64), nullable=False, server_default="default"))
    runs = sa.table("import_runs", sa.column("site", sa.String))
    op.execute(runs.update().values(site=site))


def downgrade() -> None:
    with op.batch_alter_table("import_runs") as batch:
        batch.drop_column("site")
    with op.batch_alter_table("holds") as batch:
        batch.drop_column("site")
