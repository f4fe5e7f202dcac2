"""directory: users synchronised from LDAP, their numbers under the number-plan key, the sync state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ext_id", sa.String(length=128), nullable=False),
        sa.Column("dn", sa.Text(), nullable=False),
        sa.Column("account", sa.String(length=256), nullable=False),
        sa.Column("account_key", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("office", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("change_mark", sa.String(length=64), nullable=False),
        sa.Column("seen_run", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_users")),
        sa.UniqueConstraint("ext_id", name=op.f("uq_directory_users_ext_id")),
    )
    with op.batch_alter_table("directory_users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_directory_users_account_key"), ["account_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_directory_users_email_key"), ["email_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_directory_users_seen_run"), ["seen_run"], unique=False)

    op.create_table(
        "directory_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("raw", sa.String(length=64), nullable=False),
        sa.Column("number_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["directory_users.id"],
            name=op.f("fk_directory_numbers_user_id_directory_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_numbers")),
    )
    with op.batch_alter_table("directory_numbers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_directory_numbers_number_key"), ["number_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_directory_numbers_user_id"), ["user_id"], unique=False)

    op.create_table(
        "directory_sync_state",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("running_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("high_water", sa.String(length=64), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("server_id", sa.Text(), nullable=False),
        sa.Column("plan_fingerprint", sa.String(length=32), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_full_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_directory_sync_state")),
    )


def downgrade() -> None:
    op.drop_table("directory_sync_state")
    with op.batch_alter_table("directory_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_numbers_user_id"))
        batch_op.drop_index(batch_op.f("ix_directory_numbers_number_key"))
    op.drop_table("directory_numbers")
    with op.batch_alter_table("directory_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_users_seen_run"))
        batch_op.drop_index(batch_op.f("ix_directory_users_email_key"))
        batch_op.drop_index(batch_op.f("ix_directory_users_account_key"))
    op.drop_table("directory_users")
