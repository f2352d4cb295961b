"""Client security fields: introspection permission, CORS origins, enabled.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 00:00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(
            sa.Column("introspection", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("allowed_cors_origins", sa.Text(), nullable=False, server_default="[]")
        )
        batch.add_column(
            sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("enabled")
        batch.drop_column("allowed_cors_origins")
        batch.drop_column("introspection")
