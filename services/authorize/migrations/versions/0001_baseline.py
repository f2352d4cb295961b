"""Baseline: the authorize schema and its version table, no tables yet.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

"""

from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
