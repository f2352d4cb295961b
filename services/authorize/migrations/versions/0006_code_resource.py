"""authorization_codes.resource: the resource indicator (RFC 8707) of the request.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 07:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A default, so that the previous release keeps writing codes on this schema.
    op.add_column(
        "authorization_codes",
        sa.Column("resource", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("authorization_codes") as batch:
        batch.drop_column("resource")
