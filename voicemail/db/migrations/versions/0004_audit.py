"""audit trail (hash-chained, append-only), checkpoints, roles, cases, holds, release requests, CDRs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 21:00:00

audit_events and audit_checkpoints are append-only: triggers refuse UPDATE, DELETE (except rows at or
below the sealed retention base, see audit_head.base_seq) and, on PostgreSQL, TRUNCATE. SQLite has no
TRUNCATE and no roles; see the README for what it cannot guarantee.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
APPEND_ONLY = ("audit_events", "audit_checkpoints")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION voicemail_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_events'
       AND OLD.seq <= (SELECT base_seq FROM audit_head WHERE id = 1) THEN
        RETURN OLD;  -- retention: only records already sealed by an epoch checkpoint
    END IF;
    RAISE EXCEPTION 'voicemail: % on % refused: the audit trail is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def _triggers() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION voicemail_audit_refuse()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION voicemail_audit_refuse()")
    elif bind.dialect.name == "sqlite":
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN "
                       f"SELECT RAISE(ABORT, 'voicemail: UPDATE on {table} refused: append-only'); END")
        op.execute("CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
                   "WHEN OLD.seq > (SELECT base_seq FROM audit_head WHERE id = 1) BEGIN "
                   "SELECT RAISE(ABORT, 'voicemail: DELETE on audit_events refused: append-only'); END")
        op.execute("CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints BEGIN "
                   "SELECT RAISE(ABORT, 'voicemail: DELETE on audit_checkpoints refused: append-only'); END")


def upgrade() -> None:
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints'))
    )
    op.create_table('audit_events',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=True),
    sa.Column('request_ref', sa.String(length=120), nullable=True),
    sa.Column('message_id', sa.String(length=36), nullable=True),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_actor', ['actor'], unique=False)
        batch_op.create_index('ix_audit_events_case_id', ['case_id'], unique=False)
        batch_op.create_index('ix_audit_events_message_id', ['message_id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('base_seq', sa.BigInteger(), nullable=False),
    sa.Column('base_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('case_members',
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('principal', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('case_id', 'principal', name=op.f('pk_case_members'))
    )
    op.create_table('cases',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('authority', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('numbers', sa.Text(), nullable=False),
    sa.Column('opened_at', sa.String(length=32), nullable=False),
    sa.Column('expires_at', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases'))
    )
    op.create_table('cdrs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unique_id', sa.String(length=64), nullable=False),
    sa.Column('system_name', sa.String(length=80), nullable=False),
    sa.Column('account_code', sa.String(length=80), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('destination', sa.String(length=80), nullable=False),
    sa.Column('destination_context', sa.String(length=80), nullable=False),
    sa.Column('caller_id', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=200), nullable=False),
    sa.Column('destination_channel', sa.String(length=200), nullable=False),
    sa.Column('last_application', sa.String(length=80), nullable=False),
    sa.Column('last_data', sa.Text(), nullable=False),
    sa.Column('start_time', sa.String(length=32), nullable=False),
    sa.Column('answer_time', sa.String(length=32), nullable=False),
    sa.Column('end_time', sa.String(length=32), nullable=False),
    sa.Column('duration', sa.Integer(), nullable=False),
    sa.Column('billable_seconds', sa.Integer(), nullable=False),
    sa.Column('disposition', sa.String(length=32), nullable=False),
    sa.Column('ama_flags', sa.String(length=32), nullable=False),
    sa.Column('user_field', sa.Text(), nullable=False),
    sa.Column('received_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cdrs'))
    )
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cdrs_destination'), ['destination'], unique=False)
        batch_op.create_index(batch_op.f('ix_cdrs_source'), ['source'], unique=False)
        batch_op.create_index(batch_op.f('ix_cdrs_start_time'), ['start_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_cdrs_unique_id'), ['unique_id'], unique=False)

    op.create_table('holds',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('context', sa.String(length=80), nullable=True),
    sa.Column('mailbox', sa.String(length=80), nullable=True),
    sa.Column('message_id', sa.String(length=36), nullable=True),
    sa.Column('start_at', sa.BigInteger(), nullable=True),
    sa.Column('end_at', sa.BigInteger(), nullable=True),
    sa.Column('placed_by', sa.String(length=200), nullable=False),
    sa.Column('placed_at', sa.String(length=32), nullable=False),
    sa.Column('released_by', sa.String(length=200), nullable=True),
    sa.Column('released_at', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holds'))
    )
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holds_case_id'), ['case_id'], unique=False)

    op.create_table('release_requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('request_ref', sa.String(length=120), nullable=False),
    sa.Column('requester', sa.String(length=200), nullable=False),
    sa.Column('requested_at', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('approver', sa.String(length=200), nullable=True),
    sa.Column('approved_at', sa.String(length=32), nullable=True),
    sa.Column('params', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_release_requests'))
    )
    with op.batch_alter_table('release_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_release_requests_case_id'), ['case_id'], unique=False)

    op.create_table('role_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('principal', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('granted_by', sa.String(length=200), nullable=False),
    sa.Column('granted_at', sa.String(length=32), nullable=False),
    sa.Column('revoked_by', sa.String(length=200), nullable=True),
    sa.Column('revoked_at', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_role_grants'))
    )
    with op.batch_alter_table('role_grants', schema=None) as batch_op:
        batch_op.create_index('ix_role_grants_principal', ['principal'], unique=False)
    op.execute(sa.text("INSERT INTO audit_head (id, seq, hash, base_seq, base_hash) VALUES (1, 0, :g, 0, :g)")
               .bindparams(g=GENESIS))
    _triggers()


def downgrade() -> None:
    bind = op.get_bind()
    for table in APPEND_ONLY:
        if bind.dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS voicemail_audit_refuse()")
    for table in ("cdrs", "release_requests", "holds", "case_members", "cases", "role_grants",
                  "audit_checkpoints", "audit_head", "audit_events"):
        op.drop_table(table)
