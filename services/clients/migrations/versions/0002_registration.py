"""Dynamic registration: registration access tokens, initial access tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01 00:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("registration_access_token_hash", sa.String(64), nullable=True))
    op.create_table(
        "initial_access_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_initial_access_tokens_expires_at", "initial_access_tokens", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_initial_access_tokens_expires_at", table_name="initial_access_tokens")
    op.drop_table("initial_access_tokens")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("registration_access_token_hash")
