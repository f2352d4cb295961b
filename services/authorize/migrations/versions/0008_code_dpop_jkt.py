"""authorization_codes.dpop_jkt: the DPoP key a code is bound to.

RFC 9449 section 10: the RFC 7638 thumbprint named by the authorization request's
``dpop_jkt`` (or by the DPoP proof of its push); "" for a code bound to no key.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A default, so that the previous release keeps writing codes on this schema.
    op.add_column(
        "authorization_codes",
        sa.Column("dpop_jkt", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("authorization_codes") as batch:
        batch.drop_column("dpop_jkt")
