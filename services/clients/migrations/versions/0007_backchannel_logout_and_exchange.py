"""Back-channel logout and token exchange settings of a client (OpenID Connect
Back-Channel Logout 1.0 section 2.2, RFC 8693): backchannel_logout_uri,
backchannel_logout_session_required, token_exchange_audiences.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 00:00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: Union[str, None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Defaults, so that the previous release (which writes no such columns) keeps
    # working on this schema during a rollback.
    with op.batch_alter_table("clients") as batch:
        batch.add_column(
            sa.Column("backchannel_logout_uri", sa.Text(), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column(
                "backchannel_logout_session_required",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch.add_column(
            sa.Column(
                "token_exchange_audiences", sa.Text(), nullable=False, server_default="[]"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("token_exchange_audiences")
        batch.drop_column("backchannel_logout_session_required")
        batch.drop_column("backchannel_logout_uri")
