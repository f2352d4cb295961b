"""Resource servers (RFC 8707 section 2): the table ``resources``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 00:00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A table of its own: the previous release, which knows nothing of it, keeps
    # working on this schema during a rollback.
    op.create_table(
        "resources",
        sa.Column("identifier", sa.String(512), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        # JSON text of a list of strings (common.sqltypes.JsonStringList).
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("access_token_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("introspection_client_id", sa.String(128), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("resources")
