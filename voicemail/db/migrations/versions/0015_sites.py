"""sites: a mailbox and its messages belong to one Asterisk (site)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 15:00:00

mailboxes.site and messages.site name the Asterisk a mailbox lives on; mailbox 1001@default on two sites
is two mailboxes. Rows recorded before get the default site's name (site_name of the process that
upgrades, handed over as the "default_site" attribute; "default" without one). The unique keys become
(site, context, mailbox) and (site, context, mailbox, msg_id); the inbox totals (mailbox_counts) are
counted per (site, context, mailbox), rebuilt from the messages with their triggers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = (("mailboxes", ["context", "mailbox"]), ("messages", ["context", "mailbox", "msg_id"]))
# the inbox's partial indexes (0006), now led by the site so that a mailbox's pages stay index-only scans
LISTED = "state IN ('discovered', 'sealed', 'stripped') AND hidden_at IS NULL"
INDEXES = {
    "ix_messages_box_time": ["context", "mailbox", "origtime", "id"],
    "ix_messages_box_folder_time": ["context", "mailbox", "folder", "origtime", "id"],
    "ix_messages_box_duration": ["context", "mailbox", "duration", "origtime", "id"],
    "ix_messages_box_count": ["context", "mailbox", "folder"],
}
INCLUDE = ["urgent", "caller_kind", "caller_withheld"]


def _indexes(site_first: bool) -> None:
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="messages")
        op.create_index(name, "messages", (["site"] if site_first else []) + columns, unique=False,
                        postgresql_where=sa.text(LISTED), sqlite_where=sa.text(LISTED), postgresql_include=INCLUDE)


def _counts_table(keys: tuple[str, ...]) -> None:
    columns = [sa.Column("site", sa.String(64), nullable=False)] if "site" in keys else []
    op.create_table(
        "mailbox_counts", *columns,
        sa.Column("context", sa.String(80), nullable=False),
        sa.Column("mailbox", sa.String(80), nullable=False),
        sa.Column("is_new", sa.Boolean(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*keys, "is_new", "urgent", "kind", name=op.f("pk_mailbox_counts")))


def _recount(keys: tuple[str, ...]) -> None:
    """mailbox_counts and its triggers, anew on ``keys`` (SQLite's table rebuild drops the triggers)."""
    from voicemail.db.mailbox_counts import backfill, create_triggers, drop_triggers

    dialect = op.get_bind().dialect.name
    drop_triggers(op.execute, dialect)
    op.drop_table("mailbox_counts")
    _counts_table(keys)
    op.execute(backfill(keys))
    create_triggers(op.execute, dialect, keys)


def upgrade() -> None:
    from voicemail.db.mailbox_counts import KEYS

    site = str(context.config.attributes.get("default_site") or "default")
    for table, columns in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("site", sa.String(length=64), nullable=False, server_default="default"))
        rows = sa.table(table, sa.column("site", sa.String))
        op.execute(rows.update().values(site=site))
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"uq_{table}_context", type_="unique")
            batch.create_unique_constraint(f"uq_{table}_site", ["site", *columns])
    _indexes(site_first=True)
    _recount(KEYS)


def downgrade() -> None:
    from voicemail.db.mailbox_counts import KEYS_0006, drop_triggers

    drop_triggers(op.execute, op.get_bind().dialect.name)  # they read messages.site
    _indexes(site_first=False)
    for table, columns in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"uq_{table}_site", type_="unique")
            batch.create_unique_constraint(f"uq_{table}_context", columns)
            batch.drop_column("site")
    _recount(KEYS_0006)
