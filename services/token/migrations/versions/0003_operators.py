"""token schema: signing-key retirement time, not-before entries of subjects and clients

Revision ID: 0003_operators
Revises: 0002_grant_families
Create Date: 2025-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_operators"
down_revision = "0002_grant_families"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: keys that exist already are active or retired, neither needs one.
    op.add_column(
        "signing_keys", sa.Column("retire_after", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "revoked_principals",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("principal_id", sa.String(255), primary_key=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_revoked_principals_expires_at", "revoked_principals", ["expires_at"])
    op.create_index("ix_revoked_principals_not_before", "revoked_principals", ["not_before"])


def downgrade() -> None:
    op.drop_table("revoked_principals")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("retire_after")
