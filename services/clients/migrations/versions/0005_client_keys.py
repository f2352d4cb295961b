"""Client keys and request-object settings (RFC 7591 section 2, RFC 9101 section
10.5, OpenID Connect Registration 1.0 section 2): jwks, jwks_uri,
require_signed_request_object, request_object_signing_alg.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 00:00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Defaults, so that the previous release (which writes no such columns) keeps
    # working on this schema during a rollback.
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("jwks", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("jwks_uri", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column(
                "require_signed_request_object",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch.add_column(
            sa.Column(
                "request_object_signing_alg",
                sa.String(16),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("request_object_signing_alg")
        batch.drop_column("require_signed_request_object")
        batch.drop_column("jwks_uri")
        batch.drop_column("jwks")
