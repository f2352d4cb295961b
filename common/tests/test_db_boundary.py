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
