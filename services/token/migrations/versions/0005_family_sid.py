"""token schema: the browser session (sid) a grant family was signed in with

OpenID Connect Back-Channel Logout 1.0: the ``sid`` of the family's ID tokens,
indexed so that a logout of the session finds its families.

Revision ID: 0005_family_sid
Revises: 0004_family_resource
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_family_sid"
down_revision = "0004_family_resource"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A default, so that the previous release (which writes no such column) keeps
    # working on this schema during a rollback.
    with op.batch_alter_table("grant_families") as batch:
        batch.add_column(sa.Column("sid", sa.Text(), nullable=False, server_default=""))
    op.create_index("ix_grant_families_sid", "grant_families", ["sid"])


def downgrade() -> None:
    op.drop_index("ix_grant_families_sid", table_name="grant_families")
    with op.batch_alter_table("grant_families") as batch:
        batch.drop_column("sid")
