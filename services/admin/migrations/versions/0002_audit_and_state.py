"""The audit trail (audit_events) and the service's own state (admin_state).

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # details is a JSON object as Text so that SQLite and PostgreSQL share one definition.
    op.create_table(
        "audit_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("actor_id", sa.String(300), nullable=False),
        sa.Column("actor_remote_addr", sa.String(64), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_events_time", "audit_events", ["time", "event_id"])
    op.create_index("ix_audit_events_action_time", "audit_events", ["action", "time"])
    op.create_index("ix_audit_events_actor_time", "audit_events", ["actor_id", "time"])
    op.create_index("ix_audit_events_target_time", "audit_events", ["target", "time"])
    op.create_index("ix_audit_events_outcome_time", "audit_events", ["outcome", "time"])
    op.create_table(
        "admin_state",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("admin_state")
    op.drop_index("ix_audit_events_outcome_time", "audit_events")
    op.drop_index("ix_audit_events_target_time", "audit_events")
    op.drop_index("ix_audit_events_actor_time", "audit_events")
    op.drop_index("ix_audit_events_action_time", "audit_events")
    op.drop_table("audit_events")
