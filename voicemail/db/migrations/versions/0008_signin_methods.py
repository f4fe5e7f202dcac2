"""signin methods: PIV certificate and OIDC identities mapped to web accounts

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 22:30:00

signin_identities maps (kind, key) to one web account: kind 'piv' (a certificate identity key:
sha256:<fingerprint>, upn:<UPN>, fascn:<hex>, uuid:<uuid>) or 'oidc' ('<issuer> <claim value>');
(kind, key) is unique. oidc_pending holds OIDC sign-ins in flight (hashed state, nonce, PKCE verifier).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["web_accounts.id"], ondelete="CASCADE",
                                name=op.f("fk_signin_identities_account_id_web_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_identities")),
        sa.UniqueConstraint("kind", "key", name="uq_signin_identities_kind_key"),
    )
    op.create_index("ix_signin_identities_account_id", "signin_identities", ["account_id"])
    op.create_table(
        "oidc_pending",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_oidc_pending")),
    )
    op.create_index("ix_oidc_pending_expires_at", "oidc_pending", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_pending_expires_at", table_name="oidc_pending")
    op.drop_table("oidc_pending")
    op.drop_index("ix_signin_identities_account_id", table_name="signin_identities")
    op.drop_table("signin_identities")
