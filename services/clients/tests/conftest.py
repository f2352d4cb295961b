"""Fixtures of the clients service tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from common.migrations import upgrade
from services.clients.app import MIGRATIONS_DIR
from services.clients.domain import ClientRegistry
from services.clients.settings import ClientsSettings
from services.clients.store.sql import SqlClientStore
from services.clients.tests.fakes import MemoryClientStore


def settings_for(url: str, schema: str) -> ClientsSettings:
    return ClientsSettings(database_url=url, database_schema=schema)


@pytest.fixture
async def engine(pg_url: str, database_url: tuple[str, str]) -> AsyncIterator[AsyncEngine]:
    """A migrated clients schema on SQLite or PostgreSQL (the root `database_url`).

    ``pg_url`` is requested first on purpose: the root ``database_url`` asks for it
    with getfixturevalue from inside its async body, where the session-scoped
    fixture's asyncio.run() would fail with "cannot be called from a running loop".
    """
    settings = settings_for(*database_url)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
def sql_store(engine: AsyncEngine) -> SqlClientStore:
    return SqlClientStore(engine)


@pytest.fixture
def memory_store() -> MemoryClientStore:
    return MemoryClientStore()


@pytest.fixture
def registry(memory_store: MemoryClientStore) -> ClientRegistry:
    return ClientRegistry(memory_store)
