"""phone sites: a phone PIN and a hot-desk sign-in belong to one Asterisk (site)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 18:00:00

phone_pins.site and hotdesk_sessions.site name the Asterisk of the mailbox (and of the device): the PIN
of 1001@default on one site does not open 1001@default on another, and a device name on one Asterisk is
not the same phone as that name on another. Rows recorded before get the default site's name (site_name
of the process that upgrades, handed over as the "default_site" attribute; "default" without one). The
key of phone_pins becomes (site, context, mailbox); the hot-desk indexes are led by the site.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

DESK_INDEXES = {"ix_hotdesk_sessions_device_open": ["device", "signed_out_at"],
                "ix_hotdesk_sessions_mailbox": ["context", "mailbox", "signed_in_at"]}


def _desk_indexes(site_first: bool) -> None:
    for name, columns in DESK_INDEXES.items():
        op.drop_index(name, table_name="hotdesk_sessions")
        op.create_index(name, "hotdesk_sessions", (["site"] if site_first else []) + columns)


def upgrade() -> None:
    site = str(context.config.attributes.get("default_site") or "default")
    for table in ("phone_pins", "hotdesk_sessions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("site", sa.String(length=64), nullable=False, server_default="default"))
        op.execute(sa.table(table, sa.column("site", sa.String)).update().values(site=site))
    with op.batch_alter_table("phone_pins") as batch:
        batch.drop_constraint("pk_phone_pins", type_="primary")
        batch.create_primary_key("pk_phone_pins", ["site", "context", "mailbox"])
    _desk_indexes(site_first=True)


def downgrade() -> None:
    site = str(context.config.attributes.get("default_site") or "default")
    _desk_indexes(site_first=False)
    pins = sa.table("phone_pins", sa.column("site", sa.String))
    op.execute(pins.delete().where(pins.c.site != site))  # only the default site's PINs fit the old key
    with op.batch_alter_table("phone_pins") as batch:
        batch.drop_constraint("pk_phone_pins", type_="primary")
        batch.create_primary_key("pk_phone_pins", ["context", "mailbox"])
        batch.drop_column("site")
    with op.batch_alter_table("hotdesk_sessions") as batch:
        batch.drop_column("site")
