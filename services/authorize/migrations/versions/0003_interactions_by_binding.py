"""Interactions by session binding: the bound on how many one session keeps waiting.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 13:30:00

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_interactions_binding_key", "interactions", ["binding_key", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_interactions_binding_key", table_name="interactions")
