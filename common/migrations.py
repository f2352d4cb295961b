"""Alembic, per service: each service's ``migrations/`` folder, its own version
table inside its own PostgreSQL schema (or its own SQLite file).

A service's ``migrations/env.py`` is two lines: import the table metadata and
call :func:`run_env`. :func:`upgrade` is what ``python -m services.<name>
migrate`` and ``migrate_on_start`` call.
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from common.db import create_engine, is_sqlite
from common.settings import CommonSettings

VERSION_TABLE = "alembic_version"


def alembic_config(settings: CommonSettings, migrations_dir: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["settings"] = settings
    return cfg


def upgrade(settings: CommonSettings, migrations_dir: Path, revision: str = "head") -> None:
    """Apply migrations. Blocking: call it from a thread inside an event loop."""
    command.upgrade(alembic_config(settings, migrations_dir), revision)


def downgrade(settings: CommonSettings, migrations_dir: Path, revision: str) -> None:
    command.downgrade(alembic_config(settings, migrations_dir), revision)


def run_env(metadata: MetaData) -> None:
    """Body of every service's env.py (online mode only: we always have a URL)."""
    settings: CommonSettings = context.config.attributes["settings"]
    asyncio.run(_run_online(settings, metadata))


async def _run_online(settings: CommonSettings, metadata: MetaData) -> None:
    engine = create_engine(settings)
    url = settings.resolved_database_url
    try:
        async with engine.connect() as conn:
            if not is_sqlite(url):
                # Replicas of one service may migrate at once: serialise on the schema.
                lock_id = zlib.crc32(f"oauth2-migrate:{settings.db_schema}".encode())
                await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
                # Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the
                # database even when the schema exists, which a service's own role
                # (deploy/postgres/roles.sql: it owns its schema, nothing more) lacks.
                exists = await conn.scalar(
                    text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"),
                    {"schema": settings.db_schema},
                )
                if not exists:
                    await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{settings.db_schema}"'))
                await conn.commit()
            await conn.run_sync(_do_run, metadata, None if is_sqlite(url) else settings.db_schema)
            await conn.commit()
            if not is_sqlite(url):
                await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
    finally:
        await engine.dispose()


def _do_run(connection: Connection, metadata: MetaData, schema: str | None) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        version_table_schema=schema,
        include_schemas=False,
        render_as_batch=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
