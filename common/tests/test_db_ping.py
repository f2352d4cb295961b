"""common.db.ping_idle_connections: idle pooled connections are checked before use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from common.settings import CommonSettings


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    settings = CommonSettings(
        database_url=pg_url, database_pool_size=1, database_ping_after_idle_seconds=0.3
    )
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


def counting_pings(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_back_from_use_a_moment_ago_is_not_pinged(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = counting_pings(engine, monkeypatch)
    first = await backend_pid(engine)  # a new connection: nothing to ping
    for _ in range(5):
        assert await backend_pid(engine) == first
    assert pings == []
    await asyncio.sleep(0.4)
    assert await backend_pid(engine) == first
    assert pings == [1]


async def test_an_idle_connection_that_died_is_replaced_before_use(
    engine: AsyncEngine, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = counting_pings(engine, monkeypatch)
    victim = await backend_pid(engine)
    admin = await asyncpg.connect(pg_url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", victim)
    finally:
        await admin.close()
    await asyncio.sleep(0.4)
    # The only pooled connection is dead: the ping finds out and a new one serves.
    replacement = await backend_pid(engine)
    assert replacement != victim
    assert pings == [1]
