"""mailbox: owner actions: hidden (deleted under hold) messages, play-on-phone calls

Adds to ``messages``: ``hidden_at`` (the owner deleted it while a legal hold covers it: kept, never
listed), ``destroyed_at`` (crypto-shredded tombstone), ``caller_withheld`` (no usable caller number:
the inbox's "anonymous" filter), the ``mailbox_counts`` table with the triggers that keep it exact
(voicemail/db/mailbox_counts.py: the inbox totals), and the partial indexes (listed rows only; on
PostgreSQL covering the filter columns, so pages are index-only scans) the inbox orders by within one
mailbox.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# kept here as they were at this revision (the models may change later)
LISTED = "state IN ('discovered', 'sealed', 'stripped') AND hidden_at IS NULL"
INDEXES = {
    "ix_messages_box_time": ["context", "mailbox", "origtime", "id"],
    "ix_messages_box_folder_time": ["context", "mailbox", "folder", "origtime", "id"],
    "ix_messages_box_duration": ["context", "mailbox", "duration", "origtime", "id"],
    "ix_messages_box_count": ["context", "mailbox", "folder"],  # narrow: totals by index-only scan
}
INCLUDE = ["urgent", "caller_kind", "caller_withheld"]


def _backfill_withheld() -> None:
    from voicemail.spool.envelope import parse_callerid

    bind = op.get_bind()
    messages = sa.table("messages", sa.column("id", sa.String), sa.column("callerid_raw", sa.Text),
                        sa.column("caller_withheld", sa.Boolean))
    rows = bind.execute(sa.select(messages.c.id, messages.c.callerid_raw)).all()
    withheld = [r.id for r in rows if parse_callerid(r.callerid_raw or "")[1] is None]
    for start in range(0, len(withheld), 500):
        bind.execute(sa.update(messages).where(messages.c.id.in_(withheld[start:start + 500]))
                     .values(caller_withheld=True))


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("caller_withheld", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    for name, columns in INDEXES.items():
        op.create_index(name, "messages", columns, unique=False, postgresql_where=sa.text(LISTED),
                        sqlite_where=sa.text(LISTED), postgresql_include=INCLUDE)
    _backfill_withheld()
    _counts_up()


def _counts_up() -> None:
    from voicemail.db.mailbox_counts import KEYS_0006, backfill, create_triggers

    op.create_table(
        "mailbox_counts",
        sa.Column("context", sa.String(80), nullable=False),
        sa.Column("mailbox", sa.String(80), nullable=False),
        sa.Column("is_new", sa.Boolean(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("context", "mailbox", "is_new", "urgent", "kind", name=op.f("pk_mailbox_counts")))
    op.execute(backfill(KEYS_0006))
    create_triggers(op.execute, op.get_bind().dialect.name, KEYS_0006)


def downgrade() -> None:
    from voicemail.db.mailbox_counts import drop_triggers

    drop_triggers(op.execute, op.get_bind().dialect.name)
    op.drop_table("mailbox_counts")
    for name in INDEXES:
        op.drop_index(name, table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("caller_withheld")
        batch_op.drop_column("destroyed_at")
        batch_op.drop_column("hidden_at")
