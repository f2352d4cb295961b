"""``migrate`` creates the admin schema, its tables (0002) and its version table on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from common.db import create_engine, is_sqlite
from common.migrations import downgrade, upgrade
from services.admin.app import MIGRATIONS_DIR
from services.admin.settings import AdminSettings


async def _version(settings: AdminSettings) -> str:
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
def test_migrate_to_head(backend: str, tmp_data_dir: Path, request: pytest.FixtureRequest) -> None:
    if backend == "sqlite":
        settings = AdminSettings(data_dir=tmp_data_dir, database_url=None)
    else:
        pg_url: str = request.getfixturevalue("pg_url")
        settings = AdminSettings(database_url=pg_url, database_schema=f"s_{uuid.uuid4().hex[:10]}")
    try:
        upgrade(settings, MIGRATIONS_DIR)
        upgrade(settings, MIGRATIONS_DIR)  # a second run is a no-op
        assert asyncio.run(_version(settings)) == "0002"
        downgrade(settings, MIGRATIONS_DIR, "0001")  # 0002 can be undone
        assert asyncio.run(_version(settings)) == "0001"
        upgrade(settings, MIGRATIONS_DIR)
        assert asyncio.run(_version(settings)) == "0002"
    finally:
        if backend == "postgresql":
            asyncio.run(_drop_schema(pg_url, settings.db_schema))
