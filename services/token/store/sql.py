"""SQL implementations of the token store Protocols (SQLite and PostgreSQL).

Every method opens a span and turns database errors into domain errors at
this boundary: an unreachable database is temporarily_unavailable, anything
else server_error with the detail kept for the logs.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from opentelemetry import trace
from sqlalchemy import delete, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.errors import OAuthError, ServerError, TemporarilyUnavailable
from common.timeutil import as_utc
from services.token.domain.ports import RevokedToken, StoredSigningKey
from services.token.store.tables import revoked_tokens, signing_keys

tracer = trace.get_tracer(__name__)

# Serialises key creation across replicas starting at once on PostgreSQL.
_KEY_CREATION_LOCK = zlib.crc32(b"oauth2-token:signing-keys")


@asynccontextmanager
async def _boundary(operation: str) -> AsyncIterator[None]:
    with tracer.start_as_current_span(f"token.store.{operation}"):
        try:
            yield
        except OAuthError:
            raise
        except DBAPIError as exc:
            if exc.connection_invalidated or _is_connection_error(exc):
                raise TemporarilyUnavailable(
                    "The token store is unavailable", detail=f"{operation}: {exc}"
                ) from exc
            raise ServerError(detail=f"{operation}: {exc}") from exc
        except (SQLAlchemyError, OSError) as exc:
            raise TemporarilyUnavailable(
                "The token store is unavailable", detail=f"{operation}: {exc}"
            ) from exc


def _is_connection_error(exc: DBAPIError) -> bool:
    return isinstance(exc.orig, OSError) or "connect" in type(exc.orig).__name__.lower()


def _to_signing_key(row: Any) -> StoredSigningKey:
    return StoredSigningKey(
        kid=row.kid,
        alg=row.alg,
        status=row.status,
        public_jwk=json.loads(row.public_jwk),
        private_key_enc=bytes(row.private_key_enc),
        created_at=as_utc(row.created_at),
        retired_at=as_utc(row.retired_at) if row.retired_at is not None else None,
    )


class SqlSigningKeyStore:
    """SigningKeyStore over SQLAlchemy Core."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list_keys(self) -> list[StoredSigningKey]:
        async with _boundary("list_keys"), self._engine.connect() as conn:
            rows = await conn.execute(select(signing_keys).order_by(signing_keys.c.created_at))
            return [_to_signing_key(row) for row in rows]

    async def get_key(self, kid: str) -> StoredSigningKey | None:
        async with _boundary("get_key"), self._engine.connect() as conn:
            row = (
                await conn.execute(select(signing_keys).where(signing_keys.c.kid == kid))
            ).first()
            return _to_signing_key(row) if row is not None else None

    async def active_key(self, alg: str) -> StoredSigningKey | None:
        async with _boundary("active_key"), self._engine.connect() as conn:
            return await self._active(conn, alg)

    async def add_active_key(self, key: StoredSigningKey) -> StoredSigningKey:
        async with _boundary("add_active_key"):
            try:
                async with self._engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        # Released at commit; the partial unique index is the backstop.
                        await conn.execute(
                            text("SELECT pg_advisory_xact_lock(:id)"), {"id": _KEY_CREATION_LOCK}
                        )
                    existing = await self._active(conn, key.alg)
                    if existing is not None:
                        return existing
                    await conn.execute(
                        insert(signing_keys).values(
                            kid=key.kid,
                            alg=key.alg,
                            status=key.status,
                            public_jwk=json.dumps(key.public_jwk, sort_keys=True),
                            private_key_enc=key.private_key_enc,
                            created_at=key.created_at,
                            retired_at=key.retired_at,
                        )
                    )
                    return key
            except IntegrityError:
                # Another replica won the race (only reachable without the advisory lock).
                async with self._engine.connect() as conn:
                    existing = await self._active(conn, key.alg)
                if existing is None:
                    raise
                return existing

    @staticmethod
    async def _active(conn: AsyncConnection, alg: str) -> StoredSigningKey | None:
        row = (
            await conn.execute(
                select(signing_keys).where(
                    signing_keys.c.alg == alg, signing_keys.c.status == "active"
                )
            )
        ).first()
        return _to_signing_key(row) if row is not None else None


def _to_revoked(row: Any) -> RevokedToken:
    return RevokedToken(
        jti=row.jti,
        client_id=row.client_id,
        expires_at=as_utc(row.expires_at),
        revoked_at=as_utc(row.revoked_at),
    )


class SqlDenylistStore:
    """DenylistStore over SQLAlchemy Core: the durable record of revoked jtis."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, entry: RevokedToken) -> None:
        async with _boundary("add_revoked"):
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(
                        insert(revoked_tokens).values(
                            jti=entry.jti,
                            client_id=entry.client_id,
                            expires_at=entry.expires_at,
                            revoked_at=entry.revoked_at,
                        )
                    )
            except IntegrityError:
                pass  # revoked already: revocation is idempotent

    async def is_revoked(self, jti: str, now: datetime) -> bool:
        async with _boundary("is_revoked"), self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(revoked_tokens.c.jti).where(
                        revoked_tokens.c.jti == jti, revoked_tokens.c.expires_at > now
                    )
                )
            ).first()
            return row is not None

    async def list_unexpired(
        self, now: datetime, revoked_since: datetime | None = None
    ) -> list[RevokedToken]:
        query = select(revoked_tokens).where(revoked_tokens.c.expires_at > now)
        if revoked_since is not None:
            query = query.where(revoked_tokens.c.revoked_at >= revoked_since)
        async with _boundary("list_unexpired"), self._engine.connect() as conn:
            return [_to_revoked(row) for row in await conn.execute(query)]

    async def delete_expired(self, now: datetime) -> int:
        async with _boundary("delete_expired"), self._engine.begin() as conn:
            result = await conn.execute(
                delete(revoked_tokens).where(revoked_tokens.c.expires_at <= now)
            )
            return int(result.rowcount or 0)
