"""Alembic, per service: each service's ``migrations/`` folder, its own version
table inside its own PostgreSQL schema (or its own SQLite file).

A service's ``migrations/env.py`` is two lines: import the table metadata and
call :func:`run_env`. :func:`upgrade` is what ``python -m services.<name>
migrate`` and ``migrate_on_start`` call; :func:`migration_status` is what
``oauth2ctl migrate status`` reports (it reads, never writes).
"""

from __future__ import annotations

import asyncio
import enum
import zlib
from dataclasses import dataclass
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection, make_url

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


# --- status: where a database stands against the migrations this version ships --------


class SchemaState(enum.StrEnum):
    UP_TO_DATE = "up to date"
    #: Revisions of this version are not applied yet: run ``migrate``.
    BEHIND = "behind"
    #: The database carries a revision this version does not know: a newer release
    #: migrated it. Running this version against it is a rollback of the code.
    AHEAD = "ahead"
    #: No version table (SQLite: no file): nothing was ever migrated here.
    NOT_CREATED = "not created"
    #: The database did not answer or refused; ``error`` says why.
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class MigrationStatus:
    """One service's database against its ``migrations/`` folder."""

    service: str
    #: Where: the URL with any password replaced by ``***``, and the schema.
    location: str
    state: SchemaState
    #: The revisions in the database's version table (none when not created).
    current: tuple[str, ...] = ()
    #: The head revisions this version ships.
    heads: tuple[str, ...] = ()
    #: Revisions ``migrate`` would apply, oldest first.
    pending: tuple[str, ...] = ()
    #: Revisions in the database that this version does not know.
    unknown: tuple[str, ...] = ()
    error: str = ""


def database_location(settings: CommonSettings) -> str:
    """The database URL as safe to print: the password hidden, the schema named."""
    url = settings.resolved_database_url
    shown = make_url(url).render_as_string(hide_password=True)
    return shown if is_sqlite(url) else f"{shown} (schema {settings.db_schema})"


async def migration_status(
    settings: CommonSettings, migrations_dir: Path, *, timeout_seconds: float = 10.0
) -> MigrationStatus:
    """Read the version table (alembic's MigrationContext) and compare it with the
    scripts (ScriptDirectory). Creates nothing: no schema, no table, no SQLite file."""
    script = ScriptDirectory.from_config(alembic_config(settings, migrations_dir))
    heads = tuple(script.get_heads())
    location = database_location(settings)
    url = settings.resolved_database_url
    if _no_sqlite_file(url):
        return _compare(settings.PROCESS, location, script, heads, ())
    try:
        current = await asyncio.wait_for(_current_revisions(settings), timeout_seconds)
    except TimeoutError:
        error = f"no answer within {timeout_seconds:g} s"
        return MigrationStatus(
            settings.PROCESS, location, SchemaState.UNREADABLE, heads=heads, error=error
        )
    except Exception as exc:  # any driver error is "could not read", said in one line
        error = _one_line(exc, make_url(url).password)
        return MigrationStatus(
            settings.PROCESS, location, SchemaState.UNREADABLE, heads=heads, error=error
        )
    return _compare(settings.PROCESS, location, script, heads, current)


def _no_sqlite_file(url: str) -> bool:
    """Connecting would create it: look first."""
    if not is_sqlite(url):
        return False
    database = make_url(url).database
    return bool(database) and database != ":memory:" and not Path(str(database)).exists()


async def _current_revisions(settings: CommonSettings) -> tuple[str, ...]:
    engine = create_engine(settings)
    schema = None if is_sqlite(settings.resolved_database_url) else settings.db_schema
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_read_heads, schema)
    finally:
        await engine.dispose()


def _read_heads(connection: Connection, schema: str | None) -> tuple[str, ...]:
    migration = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "version_table_schema": schema}
    )
    return tuple(migration.get_current_heads())


def _compare(
    service: str,
    location: str,
    script: ScriptDirectory,
    heads: tuple[str, ...],
    current: tuple[str, ...],
) -> MigrationStatus:
    known: list[str] = []
    unknown: list[str] = []
    for revision in current:
        try:
            found = script.get_revision(revision)
        except CommandError:
            found = None
        (known if found is not None else unknown).append(revision)
    if unknown:
        return MigrationStatus(
            service, location, SchemaState.AHEAD, current, heads, unknown=tuple(unknown)
        )
    # From the heads down to (not including) what is applied; reversed: oldest first.
    pending = tuple(
        rev.revision for rev in reversed(list(script.iterate_revisions("heads", current or "base")))
    )
    if not current:
        state = SchemaState.NOT_CREATED
    else:
        state = SchemaState.BEHIND if pending else SchemaState.UP_TO_DATE
    return MigrationStatus(service, location, state, current, heads, pending)


def _one_line(exc: BaseException, password: str | None) -> str:
    said = " ".join(str(exc).split()) or type(exc).__name__
    if password:  # no driver is known to repeat it; never find out in a log
        said = said.replace(password, "***")
    return said[:300]


#: Exit codes of a status check, the first that applies (``oauth2ctl migrate status``,
#: ``python -m services.<name> migrate --status``): a database could not be read; one is
#: ahead; one is behind or was never migrated. 0: every one is up to date.
EXIT_UNREADABLE = 1
EXIT_BEHIND = 3
EXIT_AHEAD = 4


def status_exit_code(statuses: list[MigrationStatus]) -> int:
    states = {status.state for status in statuses}
    if SchemaState.UNREADABLE in states:
        return EXIT_UNREADABLE
    if SchemaState.AHEAD in states:
        return EXIT_AHEAD
    if states & {SchemaState.BEHIND, SchemaState.NOT_CREATED}:
        return EXIT_BEHIND
    return 0


def describe_status(status: MigrationStatus) -> str:
    """The state in words, with what is pending or unknown."""
    if status.state is SchemaState.UNREADABLE:
        return f"unreadable: {status.error}"
    if status.state is SchemaState.AHEAD:
        return f"ahead: {', '.join(status.unknown)} unknown to this version (a newer release ran)"
    if status.state in (SchemaState.BEHIND, SchemaState.NOT_CREATED):
        return f"{status.state}: {', '.join(status.pending)} pending"
    return str(status.state)


def revisions_from_a_newer_release(
    settings: CommonSettings, migrations_dir: Path
) -> tuple[str, ...]:
    """The database's revisions that this version does not ship (none: nothing newer
    ran). Blocking. ``migrate`` of an older image (a rollback) meets them: alembic would
    fail on them, and a rolled-back pod would never start."""
    status = asyncio.run(migration_status(settings, migrations_dir))
    return status.unknown if status.state is SchemaState.AHEAD else ()
