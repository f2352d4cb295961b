"""``migrate`` creates the authorize tables and its version table on SQLite and PostgreSQL;
downgrade removes them. 0008 (the head) adds authorization_codes.dpop_jkt (RFC 9449
section 10) with a default the previous release, which never writes it, keeps working
with."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import inspect, text

from common.db import create_engine, is_sqlite
from common.migrations import downgrade, upgrade
from services.authorize.app import MIGRATIONS_DIR
from services.authorize.domain.model import AuthorizationCode
from services.authorize.settings import AuthorizeSettings
from services.authorize.store.sql import SqlAuthorizationCodeStore

# A code as the release before 0008 wrote it (no dpop_jkt).
INSERT_0007 = """
INSERT INTO authorization_codes (code_id, client_id, user_id, redirect_uri,
  redirect_uri_in_request, scopes, code_challenge, code_challenge_method, nonce, auth_time,
  amr, created_at, expires_at, used_at, resource, sid)
VALUES ('old', 'web', 'u1', 'https://app.example.com/cb', true, '["openid"]', '', '', '',
  '2025-01-01 00:00:00+00:00', '["pwd"]', '2025-01-01 00:00:00+00:00',
  '2025-01-01 00:01:00+00:00', NULL, '', 'sid-1')
"""


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
        assert asyncio.run(_version(settings)) == "0008"
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


async def _execute(settings: AuthorizeSettings, sql: str) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def _consume_old(settings: AuthorizeSettings) -> AuthorizationCode | None:
    engine = create_engine(settings)
    try:
        code, _ = await SqlAuthorizationCodeStore(engine).consume(
            "old", datetime(2025, 1, 1, tzinfo=UTC)
        )
    finally:
        await engine.dispose()
    return code


async def _columns(settings: AuthorizeSettings) -> set[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("authorization_codes")}
            )
    finally:
        await engine.dispose()


async def test_0008_adds_the_dpop_key_of_codes(pg_url: str, database_url: tuple[str, str]) -> None:
    url, schema = database_url
    settings = AuthorizeSettings(database_url=url, database_schema=schema)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR, "0007")
    await _execute(settings, INSERT_0007)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert "dpop_jkt" in await _columns(settings)
    # A code issued before the upgrade is bound to no key.
    before = await _consume_old(settings)
    assert before is not None and before.dpop_jkt == "" and before.sid == "sid-1"
    # The previous release's INSERT (no such column) still works on the new schema.
    await _execute(settings, "DELETE FROM authorization_codes")
    await _execute(settings, INSERT_0007)
    during = await _consume_old(settings)
    assert during is not None and during.dpop_jkt == ""
    await asyncio.to_thread(downgrade, settings, MIGRATIONS_DIR, "0007")
    assert "dpop_jkt" not in await _columns(settings)
    assert {"sid", "resource"} <= await _columns(settings)  # 0007's and 0006's stay
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    assert "dpop_jkt" in await _columns(settings)
