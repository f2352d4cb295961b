"""Migration 0003 adds introspection, allowed_cors_origins and enabled to clients
that already exist, with the defaults that keep them working, on SQLite and
PostgreSQL; downgrading removes the columns again."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from common.db import create_engine
from common.migrations import downgrade, upgrade
from services.clients.app import MIGRATIONS_DIR
from services.clients.settings import ClientsSettings
from services.clients.store.sql import SqlClientStore

INSERT_0002 = """
INSERT INTO clients (client_id, client_name, redirect_uris, grant_types, response_types,
  scope, token_endpoint_auth_method, require_pkce, post_logout_redirect_uris,
  access_token_signing_alg, always_issue_refresh_token, contacts, client_uri, logo_uri,
  client_secret_hash, dynamically_registered, revision, created_at, updated_at)
VALUES ('old', 'old', '[]', '["client_credentials"]', '[]', 'api', 'client_secret_basic',
  true, '[]', '', false, '[]', '', '', NULL, false, 1,
  '2025-01-01 00:00:00+00:00', '2025-01-01 00:00:00+00:00')
"""


async def _execute(settings: ClientsSettings, sql: str) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def _load(settings: ClientsSettings) -> tuple[bool, tuple[str, ...], bool]:
    engine = create_engine(settings)
    try:
        client = await SqlClientStore(engine).get("old")
    finally:
        await engine.dispose()
    assert client is not None
    return client.introspection, client.allowed_cors_origins, client.enabled


async def _drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


# Synchronous on purpose: Alembic and the pg_url fixture run event loops of their own.
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_0003_keeps_existing_clients_working(
    backend: str, tmp_data_dir: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        settings = ClientsSettings(data_dir=tmp_data_dir, database_url=None)
    else:
        pg_url: str = request.getfixturevalue("pg_url")
        settings = ClientsSettings(
            database_url=pg_url, database_schema=f"s_{uuid.uuid4().hex[:10]}"
        )
    try:
        upgrade(settings, MIGRATIONS_DIR, "0002")
        asyncio.run(_execute(settings, INSERT_0002))
        upgrade(settings, MIGRATIONS_DIR)
        assert asyncio.run(_load(settings)) == (False, (), True)
        downgrade(settings, MIGRATIONS_DIR, "0002")
        with pytest.raises(Exception, match="introspection"):
            asyncio.run(_execute(settings, "SELECT introspection FROM clients"))
        upgrade(settings, MIGRATIONS_DIR)
        assert asyncio.run(_load(settings)) == (False, (), True)
    finally:
        if backend == "postgresql":
            asyncio.run(_drop_schema(pg_url, settings.db_schema))
