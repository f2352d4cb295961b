"""Database engines: SQLAlchemy 2 async on SQLite (aiosqlite) or PostgreSQL (asyncpg).

On PostgreSQL every connection's ``search_path`` is the owning service's
schema, so table definitions carry no schema name and the same code and
migrations run on SQLite, where each service has its own file instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from common.errors import TemporarilyUnavailable
from common.settings import CommonSettings


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(settings: CommonSettings, *, url: str | None = None) -> AsyncEngine:
    url = url or settings.resolved_database_url
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"server_settings": {"search_path": settings.db_schema}},
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the CLI read while the service writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextlib.contextmanager
def database_errors(description: str) -> Iterator[None]:
    """At a store's boundary: an unreachable database becomes TemporarilyUnavailable
    with ``description`` public and the driver's message in ``detail`` only.
    IntegrityError passes through: the caller knows what its constraint means."""
    try:
        yield
    except sa_exc.IntegrityError:
        raise
    except (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, TimeoutError) as exc:
        raise TemporarilyUnavailable(description, detail=f"{type(exc).__name__}: {exc}") from exc
