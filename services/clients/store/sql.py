"""SqlClientStore and SqlResourceStore: the ClientStore and ResourceStore ports over
SQLAlchemy Core (SQLite or PostgreSQL).

Database errors become domain errors here, at the boundary: a taken primary
key is Conflict, an unreachable database is TemporarilyUnavailable.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import database_errors, escape_like
from common.errors import Conflict, NotFound
from common.timeutil import as_utc
from services.clients.domain.model import Client, InitialAccessToken, Resource
from services.clients.store.tables import clients, initial_access_tokens, resources

_COLUMNS = [field.name for field in dataclasses.fields(Client)]
_DATETIME_COLUMNS = ("created_at", "updated_at", "client_secret_expires_at")


UNAVAILABLE = "The client registry is unavailable"


def _to_row(client: Client) -> dict[str, Any]:
    return {name: getattr(client, name) for name in _COLUMNS}


def _from_row(row: Row[Any]) -> Client:
    values = dict(row._mapping)
    for name in _DATETIME_COLUMNS:
        if values[name] is not None:
            values[name] = as_utc(values[name])  # SQLite returns naive datetimes
    return Client(**values)


class SqlClientStore:
    """Clients in the service's own schema (or SQLite file)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, client: Client) -> None:
        with database_errors(UNAVAILABLE):
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(insert(clients).values(_to_row(client)))
            except sa_exc.IntegrityError:
                raise Conflict(f"Client {client.client_id!r} already exists") from None

    async def get(self, client_id: str) -> Client | None:
        with database_errors(UNAVAILABLE):
            async with self._engine.connect() as conn:
                result = await conn.execute(select(clients).where(clients.c.client_id == client_id))
                row = result.first()
        return _from_row(row) if row is not None else None

    async def list(self, *, after: str | None, limit: int, search: str) -> tuple[list[Client], int]:
        condition = None
        if search:
            pattern = f"%{escape_like(search.lower())}%"
            condition = or_(
                func.lower(clients.c.client_id).like(pattern, escape="\\"),
                func.lower(clients.c.client_name).like(pattern, escape="\\"),
            )
        page = select(clients).order_by(clients.c.client_id).limit(limit)
        count = select(func.count()).select_from(clients)
        if condition is not None:
            page = page.where(condition)
            count = count.where(condition)
        if after is not None:
            page = page.where(clients.c.client_id > after)
        with database_errors(UNAVAILABLE):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(page)).all()
                total = (await conn.execute(count)).scalar_one()
        return [_from_row(row) for row in rows], int(total)

    async def update(self, client: Client, *, expected_revision: int) -> None:
        values = _to_row(client)
        del values["client_id"]
        statement = (
            update(clients)
            .where(clients.c.client_id == client.client_id)
            .where(clients.c.revision == expected_revision)
            .values(values)
        )
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
                if result.rowcount == 1:
                    return
                exists = await conn.scalar(
                    select(clients.c.client_id).where(clients.c.client_id == client.client_id)
                )
        if exists is None:
            raise NotFound(f"Client {client.client_id!r} not found")
        # Another replica changed the client between our read and this write.
        raise Conflict(f"Client {client.client_id!r} was changed concurrently; retry")

    async def delete(self, client_id: str) -> bool:
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                result = await conn.execute(delete(clients).where(clients.c.client_id == client_id))
        return bool(result.rowcount)


_RESOURCE_COLUMNS = [field.name for field in dataclasses.fields(Resource)]


def _resource_from_row(row: Row[Any]) -> Resource:
    values = dict(row._mapping)
    values["created_at"] = as_utc(values["created_at"])  # SQLite returns naive datetimes
    values["updated_at"] = as_utc(values["updated_at"])
    return Resource(**values)


class SqlResourceStore:
    """Resource servers (RFC 8707) in the service's own schema (or SQLite file)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, resource: Resource) -> None:
        values = {name: getattr(resource, name) for name in _RESOURCE_COLUMNS}
        with database_errors(UNAVAILABLE, "clients.resources.create"):
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(insert(resources).values(values))
            except sa_exc.IntegrityError:
                raise Conflict(f"Resource {resource.identifier!r} already exists") from None

    async def get(self, identifier: str) -> Resource | None:
        statement = select(resources).where(resources.c.identifier == identifier)
        with database_errors(UNAVAILABLE, "clients.resources.get"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(statement)).first()
        return _resource_from_row(row) if row is not None else None

    async def list(self, *, after: str | None, limit: int) -> tuple[list[Resource], int]:
        page = select(resources).order_by(resources.c.identifier).limit(limit)
        if after is not None:
            page = page.where(resources.c.identifier > after)
        count = select(func.count()).select_from(resources)
        with database_errors(UNAVAILABLE, "clients.resources.list"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(page)).all()
                total = (await conn.execute(count)).scalar_one()
        return [_resource_from_row(row) for row in rows], int(total)

    async def update(self, resource: Resource, *, expected_revision: int) -> None:
        values = {name: getattr(resource, name) for name in _RESOURCE_COLUMNS}
        del values["identifier"], values["created_at"]
        key = resources.c.identifier == resource.identifier
        statement = (
            update(resources)
            .where(key)
            .where(resources.c.revision == expected_revision)
            .values(values)
        )
        with database_errors(UNAVAILABLE, "clients.resources.update"):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
                if result.rowcount == 1:
                    return
                exists = await conn.scalar(select(resources.c.identifier).where(key))
        if exists is None:
            raise NotFound(f"Resource {resource.identifier!r} not found")
        # Another replica changed the resource between our read and this write.
        raise Conflict(f"Resource {resource.identifier!r} was changed concurrently; retry")

    async def delete(self, identifier: str) -> bool:
        statement = delete(resources).where(resources.c.identifier == identifier)
        with database_errors(UNAVAILABLE, "clients.resources.delete"):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return bool(result.rowcount)


class SqlInitialAccessTokenStore:
    """RFC 7591 initial access tokens in the service's own schema (or SQLite file)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, token: InitialAccessToken) -> None:
        with database_errors(UNAVAILABLE, "clients.initial_access_tokens.create"):
            async with self._engine.begin() as conn:
                await conn.execute(insert(initial_access_tokens).values(dataclasses.asdict(token)))

    async def get(self, token_hash: str) -> InitialAccessToken | None:
        statement = select(initial_access_tokens).where(
            initial_access_tokens.c.token_hash == token_hash
        )
        with database_errors(UNAVAILABLE, "clients.initial_access_tokens.get"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(statement)).first()
        if row is None:
            return None
        values = dict(row._mapping)
        values["created_at"] = as_utc(values["created_at"])
        values["expires_at"] = as_utc(values["expires_at"])
        return InitialAccessToken(**values)

    async def consume(self, token_hash: str, *, now: datetime) -> bool:
        # One conditional UPDATE: the database serialises concurrent uses of a
        # row, and the second one re-checks "uses < max_uses" after the first.
        statement = (
            update(initial_access_tokens)
            .where(initial_access_tokens.c.token_hash == token_hash)
            .where(initial_access_tokens.c.uses < initial_access_tokens.c.max_uses)
            .where(initial_access_tokens.c.expires_at > now)
            .values(uses=initial_access_tokens.c.uses + 1)
        )
        with database_errors(UNAVAILABLE, "clients.initial_access_tokens.consume"):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return result.rowcount == 1

    async def delete_expired(self, *, now: datetime) -> int:
        statement = delete(initial_access_tokens).where(initial_access_tokens.c.expires_at <= now)
        with database_errors(UNAVAILABLE, "clients.initial_access_tokens.delete_expired"):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return int(result.rowcount)
