"""The admin schema: the audit trail and the service's own small state.

No schema name: on PostgreSQL the connection's search_path selects the
service's own schema (see common/db.py).
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Text

from common.sqltypes import JsonStringMap

metadata = MetaData()

audit_events = Table(
    "audit_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("action", String(100), nullable=False),
    Column("actor_id", String(300), nullable=False),
    Column("actor_remote_addr", String(64), nullable=False),
    Column("target", String(300), nullable=False),
    # success | failure | denied
    Column("outcome", String(16), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("trace_id", String(64), nullable=False),
    Column("source", String(100), nullable=False),
    Column("details", JsonStringMap, nullable=False),
    # Newest first, and each filter newest first, without a sort.
    Index("ix_audit_events_time", "time", "event_id"),
    Index("ix_audit_events_action_time", "action", "time"),
    Index("ix_audit_events_actor_time", "actor_id", "time"),
    Index("ix_audit_events_target_time", "target", "time"),
    Index("ix_audit_events_outcome_time", "outcome", "time"),
)

# Small facts the service keeps about itself, e.g. ``bootstrap_client_id``.
admin_state = Table(
    "admin_state",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
