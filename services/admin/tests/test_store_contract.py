"""The admin stores' contract, run against SQLite and PostgreSQL: audit rows
round-trip, filter, and page newest first; admin_state is compare-and-set,
with exactly one winner when two inserts race."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from common.errors import Conflict
from services.admin.domain.audit import AuditLog
from services.admin.domain.model import AuditCursor, AuditFilter, AuditRecord
from services.admin.store.sql import SqlAdminStateStore, SqlAuditStore

T0 = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def event(event_id: str, seconds: float = 0, **changes: object) -> AuditRecord:
    values: dict[str, object] = {
        "event_id": event_id,
        "action": "client.created",
        "actor_id": "client:ops",
        "actor_remote_addr": "2001:db8::1",
        "target": f"client:{event_id}",
        "outcome": "success",
        "time": T0 + timedelta(seconds=seconds),
        "source": "oauth2-admin",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "details": {"fields": "client_name,scope", "note": "Ünïcode ✓"},
    }
    values.update(changes)
    return AuditRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def audit_sql(engine: AsyncEngine) -> SqlAuditStore:
    return SqlAuditStore(engine)


@pytest.fixture
def state_sql(engine: AsyncEngine) -> SqlAdminStateStore:
    return SqlAdminStateStore(engine)


async def test_append_and_list_round_trip(audit_sql: SqlAuditStore) -> None:
    record = event("e1")
    await audit_sql.append(record)
    [loaded] = await audit_sql.list(AuditFilter(), after=None, limit=10)
    assert loaded == record and loaded.time.tzinfo is not None
    with pytest.raises(Conflict, match="e1"):
        await audit_sql.append(event("e1", action="other"))
    # A time in another zone is stored as the same instant.
    await audit_sql.append(event("e2", details={}, time=T0.astimezone(CET) + timedelta(hours=1)))
    newest = (await audit_sql.list(AuditFilter(), after=None, limit=1))[0]
    assert newest.event_id == "e2" and newest.time == T0 + timedelta(hours=1)
    assert newest.details == {}


async def test_filters(audit_sql: SqlAuditStore) -> None:
    await audit_sql.append(event("a", 0))
    await audit_sql.append(event("b", 10, action="key.rotated", target="key:k2"))
    await audit_sql.append(event("c", 20, actor_id="system", outcome="denied"))
    await audit_sql.append(event("d", 30, action="key.rotated", outcome="failure"))

    async def ids(**query: object) -> list[str]:
        found = await audit_sql.list(AuditFilter(**query), after=None, limit=10)  # type: ignore[arg-type]
        return [r.event_id for r in found]

    assert await ids() == ["d", "c", "b", "a"]
    assert await ids(action="key.rotated") == ["d", "b"]
    assert await ids(actor_id="system") == ["c"]
    assert await ids(target="key:k2") == ["b"]
    assert await ids(outcome="failure") == ["d"]
    assert await ids(action="key.rotated", outcome="success") == ["b"]
    # since is inclusive, until exclusive.
    assert await ids(since=T0 + timedelta(seconds=10)) == ["d", "c", "b"]
    assert await ids(until=T0 + timedelta(seconds=20)) == ["b", "a"]
    assert await ids(since=T0 + timedelta(seconds=10), until=T0 + timedelta(seconds=30)) == [
        "c",
        "b",
    ]
    assert await ids(action="nothing") == []


async def test_pages_newest_first_with_ties_on_time(audit_sql: SqlAuditStore) -> None:
    for index in range(3):
        await audit_sql.append(event(f"e{index}", index))
    # Same instant: ordered by event_id, descending.
    await audit_sql.append(event("e2a", 2))
    await audit_sql.append(event("e2b", 2))
    page = await audit_sql.list(AuditFilter(), after=None, limit=2)
    assert [r.event_id for r in page] == ["e2b", "e2a"]
    after = AuditCursor(time=page[-1].time, event_id=page[-1].event_id)
    page = await audit_sql.list(AuditFilter(), after=after, limit=2)
    assert [r.event_id for r in page] == ["e2", "e1"]
    after = AuditCursor(time=page[-1].time, event_id=page[-1].event_id)
    assert [r.event_id for r in await audit_sql.list(AuditFilter(), after=after, limit=2)] == ["e0"]


async def test_cursors_of_the_audit_log_survive_the_database(audit_sql: SqlAuditStore) -> None:
    audit = AuditLog(audit_sql)
    for index in range(7):
        await audit.record(event(f"e{index}", index * 0.000001, action="login.lockout"))
    seen: list[str] = []
    token = ""
    while True:
        page = await audit.list(
            AuditFilter(action="login.lockout"), page_size_requested=3, page_token=token
        )
        seen += [r.event_id for r in page.events]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"e{index}" for index in reversed(range(7))]


async def test_state_is_compare_and_set(state_sql: SqlAdminStateStore) -> None:
    assert await state_sql.get("k") is None
    assert await state_sql.insert("k", "pending:1", now=T0)
    assert not await state_sql.insert("k", "pending:2", now=T0)
    entry = await state_sql.get("k")
    assert entry is not None and entry.value == "pending:1" and entry.updated_at == T0
    assert not await state_sql.replace("k", expected="pending:2", value="x", now=T0)
    later = T0 + timedelta(minutes=1)
    assert await state_sql.replace("k", expected="pending:1", value="client-1", now=later)
    entry = await state_sql.get("k")
    assert entry is not None and (entry.value, entry.updated_at) == ("client-1", later)
    assert not await state_sql.delete("k", expected="pending:1")
    assert await state_sql.delete("k", expected="client-1")
    assert await state_sql.get("k") is None


async def test_two_concurrent_inserts_have_one_winner(state_sql: SqlAdminStateStore) -> None:
    results = await asyncio.gather(
        *(state_sql.insert("bootstrap_client_id", f"pending:{i}", now=T0) for i in range(4))
    )
    assert sorted(results) == [False, False, False, True]
