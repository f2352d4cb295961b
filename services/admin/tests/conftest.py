"""Fixtures of the admin service tests: the domain over the real domains of the
three services it composes (on in-memory stores, see ``fakes``), and a migrated
admin schema on SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from common.migrations import upgrade
from services.admin.app import MIGRATIONS_DIR
from services.admin.domain import AdminDomain, build_admin_domain
from services.admin.settings import AdminSettings
from services.admin.tests.fakes import (
    Downstream,
    Journal,
    MemoryAuditStore,
    MemoryStateStore,
    start_downstream,
)


@pytest.fixture
async def downstream() -> Downstream:
    return await start_downstream()


@pytest.fixture
def journal(downstream: Downstream) -> Journal:
    return downstream.journal


@pytest.fixture
def audit_store() -> MemoryAuditStore:
    return MemoryAuditStore()


@pytest.fixture
def state() -> MemoryStateStore:
    return MemoryStateStore()


@pytest.fixture
def domain(
    downstream: Downstream, audit_store: MemoryAuditStore, state: MemoryStateStore
) -> AdminDomain:
    return build_admin_domain(
        clients=downstream.client_registry_port(),
        users=downstream.user_directory_port(),
        tokens=downstream.token_authority_port(),
        audit_store=audit_store,
        state=state,
        source="oauth2-admin",
        max_details_chars=1024,
        bootstrap_claim_timeout_seconds=60,
    )


@pytest.fixture
async def engine(pg_url: str, database_url: tuple[str, str]) -> AsyncIterator[AsyncEngine]:
    """A migrated admin schema on SQLite or PostgreSQL (the root `database_url`).

    ``pg_url`` is requested first on purpose: the root ``database_url`` asks for it
    with getfixturevalue from inside its async body, where the session-scoped
    fixture's asyncio.run() would fail with "cannot be called from a running loop".
    """
    url, schema = database_url
    settings = AdminSettings(database_url=url, database_schema=schema)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    engine = create_engine(settings)
    yield engine
    await engine.dispose()
