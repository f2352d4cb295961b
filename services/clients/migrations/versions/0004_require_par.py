"""require_pushed_authorization_requests (RFC 9126 section 6) per client.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A default, so that the previous release (which writes no such column) keeps
    # working on this schema during a rollback.
    with op.batch_alter_table("clients") as batch:
        batch.add_column(
            sa.Column(
                "require_pushed_authorization_requests",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("require_pushed_authorization_requests")
