"""``migrate`` creates the authorize tables and its version table on SQLite and PostgreSQL;
downgrade removes them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import inspect, text

from common.db import create_engine, is_sqlite
from common.migrations import downgrade, upgrade
from services.authorize.app import MIGRATIONS_DIR
from services.authorize.settings import AuthorizeSettings


async def _tables(settings: AuthorizeSettings) -> set[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            return set(names)
    finally:
        await engine.dispose()


async def _version(settings: AuthorizeSettings) -> str:
    engine = create_engine(settings)
    table = "alembic_version"
    if not is_sqlite(settings.resolved_database_url):
        table = f'"{settings.db_schema}".{table}'
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(f"SELECT version_num FROM {table}"))  # noqa: S608
            return str(result.scalar_one())
    finally:
        await engine.dispose()


async def _drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


# Synchronous on purpose: Alembic and the pg_url fixture run event loops of their own.
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrate_creates_the_tables(
    backend: str, tmp_data_dir: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        settings = AuthorizeSettings(data_dir=tmp_data_dir, database_url=None)
    else:
        pg_url: str = request.getfixturevalue("pg_url")
        settings = AuthorizeSettings(
            database_url=pg_url, database_schema=f"s_{uuid.uuid4().hex[:10]}"
        )
    try:
        upgrade(settings, MIGRATIONS_DIR)
        upgrade(settings, MIGRATIONS_DIR)  # a second run is a no-op
        assert asyncio.run(_version(settings)) == "0007"
        tables = {
            "users",
            "consents",
            "authorization_codes",
            "interactions",
            "device_authorizations",
        }
        assert tables <= asyncio.run(_tables(settings))
        downgrade(settings, MIGRATIONS_DIR, "base")
        assert not tables & asyncio.run(_tables(settings))
        upgrade(settings, MIGRATIONS_DIR)
    finally:
        if backend == "postgresql":
            asyncio.run(_drop_schema(pg_url, settings.db_schema))
