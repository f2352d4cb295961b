"""The store boundary: database trouble becomes the right domain error."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from common.db import database_errors, escape_like
from common.errors import InvalidGrant, ServerError, TemporarilyUnavailable


def dbapi(cls: type[sa_exc.DBAPIError], orig: Exception) -> sa_exc.DBAPIError:
    return cls("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (dbapi(sa_exc.OperationalError, Exception("database is locked")), TemporarilyUnavailable),
        (dbapi(sa_exc.InterfaceError, Exception("connection closed")), TemporarilyUnavailable),
        (dbapi(sa_exc.DBAPIError, ConnectionRefusedError()), TemporarilyUnavailable),
        (OSError("unreachable"), TemporarilyUnavailable),
        (dbapi(sa_exc.ProgrammingError, Exception("syntax error")), ServerError),
    ],
)
async def test_translation(raised: Exception, expected: type[Exception]) -> None:
    with pytest.raises(expected) as caught, database_errors("The store is unavailable"):
        raise raised
    if expected is TemporarilyUnavailable:
        assert caught.value.description == "The store is unavailable"  # type: ignore[attr-defined]
    assert "SELECT" not in getattr(caught.value, "description", "")
    with pytest.raises(expected):
        async with database_errors("The store is unavailable", span="test.op"):
            raise raised


def test_domain_and_integrity_errors_pass_through() -> None:
    with pytest.raises(InvalidGrant), database_errors("x"):
        raise InvalidGrant("kept")
    with pytest.raises(sa_exc.IntegrityError), database_errors("x"):
        raise dbapi(sa_exc.IntegrityError, Exception("duplicate key"))


def test_escape_like() -> None:
    assert escape_like("50%_off\\") == "50\\%\\_off\\\\"


class _SqlStateError(Exception):
    """What SQLAlchemy's asyncpg adapter raises: the server's SQLSTATE on ``sqlstate``."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"server said {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("57P01", TemporarilyUnavailable),  # admin shutdown: the server is stopping
        ("57P02", TemporarilyUnavailable),  # crash shutdown
        ("57P03", TemporarilyUnavailable),  # the database system is starting up
        ("53300", TemporarilyUnavailable),  # too many connections
        ("08006", TemporarilyUnavailable),  # connection failure
        ("25006", TemporarilyUnavailable),  # read-only: a primary turned standby
        ("40001", TemporarilyUnavailable),  # serialization failure: retry
        ("42601", ServerError),  # syntax error: our bug, not an outage
        ("22001", ServerError),  # value too long
    ],
)
def test_outages_are_recognised_by_sqlstate(sqlstate: str, expected: type[Exception]) -> None:
    with pytest.raises(expected), database_errors("The store is unavailable"):
        raise dbapi(sa_exc.DBAPIError, _SqlStateError(sqlstate))


async def test_a_database_in_read_only_mode_is_an_outage_not_a_server_error(pg_url: str) -> None:
    """A real PostgreSQL refusing a write as a standby does (SQLSTATE 25006)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(pg_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SET default_transaction_read_only = on"))
            await conn.commit()
            with pytest.raises(TemporarilyUnavailable), database_errors("unavailable"):
                await conn.execute(text("CREATE TABLE refused (a int)"))
    finally:
        await engine.dispose()
