"""token schema: grant families, refresh tokens, revoked families

Revision ID: 0002_grant_families
Revises: 0001_token
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_grant_families"
down_revision = "0001_token"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_families",
        sa.Column("family_id", sa.String(128), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_revoked_families_expires_at", "revoked_families", ["expires_at"])
    op.create_index("ix_revoked_families_revoked_at", "revoked_families", ["revoked_at"])

    op.create_table(
        "grant_families",
        sa.Column("family_id", sa.String(128), primary_key=True),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("amr", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(255), nullable=True),
    )
    op.create_index("ix_grant_families_subject", "grant_families", ["subject"])
    op.create_index("ix_grant_families_client_id", "grant_families", ["client_id"])
    op.create_index("ix_grant_families_expires_at", "grant_families", ["expires_at"])

    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("family_id", sa.String(128), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_table("refresh_tokens")
    op.drop_table("grant_families")
    op.drop_table("revoked_families")
