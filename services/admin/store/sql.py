"""The admin service's stores over SQLAlchemy Core (SQLite or PostgreSQL).

Database errors become domain errors here, at the boundary (common.db.database_errors):
a taken primary key is Conflict, an unreachable database TemporarilyUnavailable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, insert, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import database_errors
from common.errors import Conflict
from common.timeutil import as_utc
from common.vocabulary import AuditOutcome
from services.admin.domain.model import AuditCursor, AuditFilter, AuditRecord, StateEntry
from services.admin.store.tables import admin_state, audit_events

UNAVAILABLE = "The audit log is unavailable"


def _from_row(row: Row[Any]) -> AuditRecord:
    values = dict(row._mapping)
    values["time"] = as_utc(values["time"])  # SQLite returns naive datetimes
    values["outcome"] = AuditOutcome(values["outcome"])
    return AuditRecord(**values)


class SqlAuditStore:
    """The audit trail in the admin schema (or SQLite file); rows are never changed."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def append(self, record: AuditRecord) -> None:
        values = {
            "event_id": record.event_id,
            "action": record.action,
            "actor_id": record.actor_id,
            "actor_remote_addr": record.actor_remote_addr,
            "target": record.target,
            "outcome": record.outcome,
            # SQLite keeps no offset: every time is stored as UTC.
            "time": as_utc(record.time),
            "trace_id": record.trace_id,
            "source": record.source,
            "details": dict(record.details),
        }
        async with database_errors(UNAVAILABLE, "audit.append"):
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(insert(audit_events).values(values))
            except sa_exc.IntegrityError:
                raise Conflict(f"Audit event {record.event_id!r} already recorded") from None

    async def list(
        self, query: AuditFilter, *, after: AuditCursor | None, limit: int
    ) -> list[AuditRecord]:
        table = audit_events.c
        statement = select(audit_events).order_by(table.time.desc(), table.event_id.desc())
        for column, wanted in (
            (table.action, query.action),
            (table.actor_id, query.actor_id),
            (table.target, query.target),
            (table.outcome, query.outcome),
        ):
            if wanted:
                statement = statement.where(column == wanted)
        if query.since is not None:
            statement = statement.where(table.time >= as_utc(query.since))
        if query.until is not None:
            statement = statement.where(table.time < as_utc(query.until))
        if after is not None:
            at = as_utc(after.time)
            statement = statement.where(
                or_(table.time < at, and_(table.time == at, table.event_id < after.event_id))
            )
        async with database_errors(UNAVAILABLE, "audit.list"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(statement.limit(limit))).all()
        return [_from_row(row) for row in rows]


class SqlAdminStateStore:
    """``admin_state``: keyed values whose writes are compare-and-set, so that two
    replicas racing on one key (two concurrent bootstraps) cannot both win."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, key: str) -> StateEntry | None:
        async with database_errors(UNAVAILABLE, "admin_state.get"):
            async with self._engine.connect() as conn:
                row = (
                    await conn.execute(select(admin_state).where(admin_state.c.key == key))
                ).first()
        if row is None:
            return None
        return StateEntry(value=row.value, updated_at=as_utc(row.updated_at))

    async def insert(self, key: str, value: str, *, now: datetime) -> bool:
        async with database_errors(UNAVAILABLE, "admin_state.insert"):
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(
                        insert(admin_state).values(key=key, value=value, updated_at=as_utc(now))
                    )
            except sa_exc.IntegrityError:
                return False
        return True

    async def replace(self, key: str, *, expected: str, value: str, now: datetime) -> bool:
        statement = (
            update(admin_state)
            .where(admin_state.c.key == key, admin_state.c.value == expected)
            .values(value=value, updated_at=as_utc(now))
        )
        async with database_errors(UNAVAILABLE, "admin_state.replace"):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return bool(result.rowcount == 1)

    async def delete(self, key: str, *, expected: str) -> bool:
        statement = delete(admin_state).where(
            admin_state.c.key == key, admin_state.c.value == expected
        )
        async with database_errors(UNAVAILABLE, "admin_state.delete"):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return bool(result.rowcount == 1)
