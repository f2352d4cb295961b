"""authorization_codes.sid: the browser session that approved the request.

OpenID Connect Back-Channel Logout 1.0: the ``sid`` of the ID tokens issued
from the code.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A default, so that the previous release keeps writing codes on this schema.
    op.add_column(
        "authorization_codes",
        sa.Column("sid", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("authorization_codes") as batch:
        batch.drop_column("sid")
