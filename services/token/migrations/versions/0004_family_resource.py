"""token schema: the resource (RFC 8707) a grant family's access tokens are for

Revision ID: 0004_family_resource
Revises: 0003_operators
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_family_resource"
down_revision = "0003_operators"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A default, so that the previous release (which writes no such column) keeps
    # working on this schema during a rollback.
    with op.batch_alter_table("grant_families") as batch:
        batch.add_column(sa.Column("resource", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("grant_families") as batch:
        batch.drop_column("resource")
