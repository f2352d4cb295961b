"""token schema: the DPoP key a public client's grant family is bound to

RFC 9449 section 5: the refresh tokens of a public client that asked with a DPoP
proof are bound to that key (its RFC 7638 thumbprint); each refresh must prove it.

Revision ID: 0006_family_dpop_jkt
Revises: 0005_family_sid
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_family_dpop_jkt"
down_revision = "0005_family_sid"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A default, so that the previous release (which writes no such column) keeps
    # working on this schema during a rollback; its families stay unbound.
    with op.batch_alter_table("grant_families") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("grant_families") as batch:
        batch.drop_column("dpop_jkt")
