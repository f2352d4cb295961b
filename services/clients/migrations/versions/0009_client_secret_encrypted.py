"""client_secret_encrypted: the secret of a client_secret_jwt client (RFC 7523
section 2.2), sealed with AES-256-GCM under the clients service's key-encryption key.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 00:00:00

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: Union[str, None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Nullable (NULL for every other method), so that the previous release, which
    # writes no such column, keeps working on this schema during a rollback.
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("client_secret_encrypted", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("client_secret_encrypted")
