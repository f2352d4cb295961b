"""Database engines: SQLAlchemy 2 async on SQLite (aiosqlite) or PostgreSQL (asyncpg).

On PostgreSQL every connection's ``search_path`` is the owning service's
schema, so table definitions carry no schema name and the same code and
migrations run on SQLite, where each service has its own file instead.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from opentelemetry import trace
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from common.errors import OAuthError, ServerError, TemporarilyUnavailable
from common.files import private_file
from common.metrics import watch_engine_pool
from common.settings import CommonSettings
from common.startup import wait_until_reachable
from common.telemetry import instrument_engine

_tracer = trace.get_tracer(__name__)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(settings: CommonSettings, *, url: str | None = None) -> AsyncEngine:
    url = url or settings.resolved_database_url
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            private_file(Path(database))
        # hide_parameters: a driver error's text (logs, span events) shows no values.
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_async_engine(
            url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_pool_size,
            pool_recycle=1800,
            hide_parameters=True,
            connect_args={"server_settings": {"search_path": settings.db_schema}},
        )
        ping_idle_connections(engine, settings.database_ping_after_idle_seconds)
    instrument_engine(engine)
    watch_engine_pool(engine, settings.db_schema)
    return engine


def ping_idle_connections(engine: AsyncEngine, after_idle_seconds: float) -> None:
    """Pessimistic disconnect handling for the connections that may have died unseen:
    a pooled connection that has been idle for ``after_idle_seconds`` or more is pinged
    when it is checked out, and a dead one is replaced before the caller gets it (the
    pool tries again on DisconnectionError, as SQLAlchemy's own pre-ping does).

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout; with asyncpg a ping is
    BEGIN, an empty statement and ROLLBACK, three round trips before each store method
    (14% of the token service's CPU per refresh). A connection back from use a moment
    ago answered a moment ago; under load none is idle that long, and one that died
    meanwhile (the database restarted) fails its statement, which the store boundary
    answers 503 and which invalidates the pool's older connections."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        # No mark: a connection made for this checkout (the mark goes with the DBAPI
        # connection, so a replaced one starts without).
        if idle_since is None or time.monotonic() - idle_since < after_idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa_exc.DisconnectionError("a pooled connection did not answer") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the CLI read while the service writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class database_errors:
    """The boundary of every store method (Hydra's habit): database trouble becomes a
    domain error. An unreachable or busy database is TemporarilyUnavailable with
    ``description`` public and the driver's message in ``detail`` only; any other
    driver error is ServerError. IntegrityError passes through: the caller knows what
    its constraint means. ``span`` names an OpenTelemetry span around the operation.
    Works with ``with`` and ``async with`` (beside an engine's connection).
    """

    def __init__(self, description: str, span: str | None = None) -> None:
        self._description = description
        self._span = _tracer.start_as_current_span(span) if span else contextlib.nullcontext()

    def __enter__(self) -> None:
        self._span.__enter__()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        try:
            self._translate(exc)
        finally:
            self._span.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _translate(self, exc: BaseException | None) -> None:
        if exc is None or isinstance(exc, OAuthError | sa_exc.IntegrityError):
            return
        if isinstance(exc, sa_exc.DBAPIError) and not _unreachable(exc):
            raise ServerError(detail=_detail(exc)) from exc
        if isinstance(exc, sa_exc.SQLAlchemyError | OSError | TimeoutError):
            raise TemporarilyUnavailable(self._description, detail=_detail(exc)) from exc


#: SQLSTATE classes of a database that is away or cannot take the work now
#: (PostgreSQL Appendix A): 08 connection exception, 53 insufficient resources
#: (too many connections, out of memory or disk), 57 operator intervention
#: (57P01 admin shutdown, 57P02 crash shutdown, 57P03 starting up / cannot
#: connect now, 57014 statement timeout), 58 system error.
_OUTAGE_CLASSES = frozenset({"08", "53", "57", "58"})
#: A primary that became a standby (failover, recovery): writes are refused
#: until the clients reach the new primary. 40001/40P01 (serialization failure,
#: deadlock) are retryable too.
_OUTAGE_STATES = frozenset({"25006", "40001", "40P01"})


def _unreachable(exc: sa_exc.DBAPIError) -> bool:
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    return (
        exc.connection_invalidated
        or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
        or isinstance(exc.orig, OSError)
        or "connect" in type(exc.orig).__name__.lower()
        or sqlstate[:2] in _OUTAGE_CLASSES
        or sqlstate in _OUTAGE_STATES
    )


def _detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def escape_like(text: str) -> str:
    """``text`` for a LIKE pattern with ``escape="\\"``: its wildcards taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def database_address(url: str) -> str:
    """host:port of a PostgreSQL URL (the file of a SQLite one), never its password."""
    parsed = make_url(url)
    if is_sqlite(url):
        return parsed.database or ":memory:"
    host = parsed.host or str(parsed.query.get("host") or "localhost")
    return f"{host}:{parsed.port or 5432}"


def _worth_retrying(exc: BaseException) -> bool:
    """A database that is away or starting (retry) rather than one that refuses
    us for good: a missing database or role, a wrong password."""
    if isinstance(exc, sa_exc.DBAPIError):
        sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
        if sqlstate:
            return sqlstate[:2] in _OUTAGE_CLASSES
        return isinstance(exc.orig, OSError | TimeoutError) or _unreachable(exc)
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    if sqlstate:
        return sqlstate[:2] in _OUTAGE_CLASSES
    return isinstance(exc, OSError | TimeoutError)


async def wait_for_database(settings: CommonSettings) -> None:
    """At start-up: wait (``startup_timeout_seconds``, growing pauses) until the
    database answers ``SELECT 1``; then, or at once when it refuses us for good, a
    StartupError of one line naming the host and port (common/startup.py)."""
    url = settings.resolved_database_url
    if is_sqlite(url):
        return  # a file: nothing to wait for
    engine = create_async_engine(url, poolclass=NullPool, hide_parameters=True)
    address = database_address(url)
    timeout = settings.startup_timeout_seconds

    async def select_one() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    def failure(reason: str, timed_out: bool) -> str:
        if not timed_out:
            return f"{settings.PROCESS}: PostgreSQL at {address} refused the connection: {reason}"
        return (
            f"{settings.PROCESS}: PostgreSQL at {address} did not answer within {timeout:g}s"
            f" ({reason}; set DATABASE_URL or database_url)"
        )

    try:
        await wait_until_reachable(
            select_one,
            retryable=_worth_retrying,
            timeout=timeout,
            failure=failure,
            secret=make_url(url).password,
        )
    finally:
        await engine.dispose()
