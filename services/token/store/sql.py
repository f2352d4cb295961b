"""SQL implementations of the token store Protocols (SQLite and PostgreSQL):
signing keys and the denylist here, grant families in ``store.grants``.

Every method opens a span and turns database errors into domain errors at
this boundary: an unreachable database is temporarily_unavailable, anything
else server_error with the detail kept for the logs.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.db import database_errors
from common.timeutil import as_utc
from services.token.domain.ports import (
    PrincipalKind,
    RevokedFamily,
    RevokedPrincipal,
    RevokedToken,
    StoredSigningKey,
)
from services.token.store.tables import (
    revoked_families,
    revoked_principals,
    revoked_tokens,
    signing_keys,
)

# Serialises key creation across replicas starting at once on PostgreSQL.
_KEY_CREATION_LOCK = zlib.crc32(b"oauth2-token:signing-keys")


UNAVAILABLE = "The token store is unavailable"


def store_boundary(operation: str) -> database_errors:
    return database_errors(UNAVAILABLE, f"token.store.{operation}")


def _to_signing_key(row: Any) -> StoredSigningKey:
    return StoredSigningKey(
        kid=row.kid,
        alg=row.alg,
        status=row.status,
        public_jwk=json.loads(row.public_jwk),
        private_key_enc=bytes(row.private_key_enc),
        created_at=as_utc(row.created_at),
        retired_at=as_utc(row.retired_at) if row.retired_at is not None else None,
        retire_after=as_utc(row.retire_after) if row.retire_after is not None else None,
    )


def _signing_key_row(key: StoredSigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "status": key.status,
        "public_jwk": json.dumps(key.public_jwk, sort_keys=True),
        "private_key_enc": key.private_key_enc,
        "created_at": key.created_at,
        "retired_at": key.retired_at,
        "retire_after": key.retire_after,
    }


async def _lock_signing_keys(conn: AsyncConnection) -> None:
    """Serialise creation and rotation across replicas on PostgreSQL (released at commit);
    SQLite's single writer does the same, and the partial unique index is the backstop."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _KEY_CREATION_LOCK})


class SqlSigningKeyStore:
    """SigningKeyStore over SQLAlchemy Core."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list_keys(self) -> list[StoredSigningKey]:
        async with (
            store_boundary("list_keys"),
            self._engine.connect() as conn,
        ):
            rows = await conn.execute(select(signing_keys).order_by(signing_keys.c.created_at))
            return [_to_signing_key(row) for row in rows]

    async def get_key(self, kid: str) -> StoredSigningKey | None:
        async with (
            store_boundary("get_key"),
            self._engine.connect() as conn,
        ):
            row = (
                await conn.execute(select(signing_keys).where(signing_keys.c.kid == kid))
            ).first()
            return _to_signing_key(row) if row is not None else None

    async def active_key(self, alg: str) -> StoredSigningKey | None:
        async with (
            store_boundary("active_key"),
            self._engine.connect() as conn,
        ):
            return await self._active(conn, alg)

    async def add_active_key(self, key: StoredSigningKey) -> StoredSigningKey:
        with store_boundary("add_active_key"):
            try:
                async with self._engine.begin() as conn:
                    await _lock_signing_keys(conn)
                    existing = await self._active(conn, key.alg)
                    if existing is not None:
                        return existing
                    await conn.execute(insert(signing_keys).values(**_signing_key_row(key)))
                    return key
            except IntegrityError:
                # Another replica won the race (only reachable without the advisory lock).
                async with self._engine.connect() as conn:
                    existing = await self._active(conn, key.alg)
                if existing is None:
                    raise
                return existing

    async def rotate_key(self, key: StoredSigningKey, retire_after: datetime) -> None:
        async with (
            store_boundary("rotate_key"),
            self._engine.begin() as conn,
        ):
            await _lock_signing_keys(conn)
            await conn.execute(
                update(signing_keys)
                .where(signing_keys.c.alg == key.alg, signing_keys.c.status == "active")
                .values(status="previous", retire_after=retire_after)
            )
            await conn.execute(insert(signing_keys).values(**_signing_key_row(key)))

    async def retire_key(self, kid: str, now: datetime) -> bool:
        async with (
            store_boundary("retire_key"),
            self._engine.begin() as conn,
        ):
            result = await conn.execute(
                update(signing_keys)
                .where(signing_keys.c.kid == kid, signing_keys.c.status == "previous")
                .values(status="retired", retired_at=now)
            )
            return bool(result.rowcount)

    async def retire_due(self, now: datetime) -> int:
        async with (
            store_boundary("retire_due"),
            self._engine.begin() as conn,
        ):
            result = await conn.execute(
                update(signing_keys)
                .where(
                    signing_keys.c.status == "previous",
                    signing_keys.c.retire_after.is_not(None),
                    signing_keys.c.retire_after <= now,
                )
                .values(status="retired", retired_at=signing_keys.c.retire_after)
            )
            return int(result.rowcount or 0)

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
        with store_boundary("add_revoked"):
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
        async with (
            store_boundary("is_revoked"),
            self._engine.connect() as conn,
        ):
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
        async with (
            store_boundary("list_unexpired"),
            self._engine.connect() as conn,
        ):
            return [_to_revoked(row) for row in await conn.execute(query)]

    async def add_family(self, entry: RevokedFamily) -> None:
        with store_boundary("add_revoked_family"):
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(
                        insert(revoked_families).values(
                            family_id=entry.family_id,
                            expires_at=entry.expires_at,
                            revoked_at=entry.revoked_at,
                        )
                    )
            except IntegrityError:
                pass  # revoked already

    async def is_family_revoked(self, family_id: str, now: datetime) -> bool:
        async with (
            store_boundary("is_family_revoked"),
            self._engine.connect() as conn,
        ):
            row = (
                await conn.execute(
                    select(revoked_families.c.family_id).where(
                        revoked_families.c.family_id == family_id,
                        revoked_families.c.expires_at > now,
                    )
                )
            ).first()
            return row is not None

    async def list_unexpired_families(
        self, now: datetime, revoked_since: datetime | None = None
    ) -> list[RevokedFamily]:
        query = select(revoked_families).where(revoked_families.c.expires_at > now)
        if revoked_since is not None:
            query = query.where(revoked_families.c.revoked_at >= revoked_since)
        async with (
            store_boundary("list_unexpired_families"),
            self._engine.connect() as conn,
        ):
            return [
                RevokedFamily(
                    family_id=row.family_id,
                    expires_at=as_utc(row.expires_at),
                    revoked_at=as_utc(row.revoked_at),
                )
                for row in await conn.execute(query)
            ]

    async def add_principal(self, entry: RevokedPrincipal) -> RevokedPrincipal:
        table = revoked_principals
        async with (
            store_boundary("add_revoked_principal"),
            self._engine.begin() as conn,
        ):
            dialect_insert = (
                postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            )
            stmt = dialect_insert(table).values(
                kind=entry.kind,
                principal_id=entry.principal_id,
                not_before=entry.not_before,
                expires_at=entry.expires_at,
            )
            # Forward only: a replica with a slow clock must not shorten a revocation.
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.kind, table.c.principal_id],
                set_={
                    "not_before": case(
                        (stmt.excluded.not_before > table.c.not_before, stmt.excluded.not_before),
                        else_=table.c.not_before,
                    ),
                    "expires_at": case(
                        (stmt.excluded.expires_at > table.c.expires_at, stmt.excluded.expires_at),
                        else_=table.c.expires_at,
                    ),
                },
            )
            await conn.execute(stmt)
            row = (
                await conn.execute(
                    select(table).where(
                        table.c.kind == entry.kind, table.c.principal_id == entry.principal_id
                    )
                )
            ).one()
            return _to_principal(row)

    async def principal_not_before(
        self, kind: PrincipalKind, principal_id: str, now: datetime
    ) -> datetime | None:
        table = revoked_principals
        async with (
            store_boundary("principal_not_before"),
            self._engine.connect() as conn,
        ):
            value = (
                await conn.execute(
                    select(table.c.not_before).where(
                        table.c.kind == kind,
                        table.c.principal_id == principal_id,
                        table.c.expires_at > now,
                    )
                )
            ).scalar_one_or_none()
            return as_utc(value) if value is not None else None

    async def list_unexpired_principals(
        self, now: datetime, revoked_since: datetime | None = None
    ) -> list[RevokedPrincipal]:
        query = select(revoked_principals).where(revoked_principals.c.expires_at > now)
        if revoked_since is not None:
            query = query.where(revoked_principals.c.not_before >= revoked_since)
        async with (
            store_boundary("list_unexpired_principals"),
            self._engine.connect() as conn,
        ):
            return [_to_principal(row) for row in await conn.execute(query)]

    async def delete_expired(self, now: datetime) -> int:
        async with (
            store_boundary("delete_expired"),
            self._engine.begin() as conn,
        ):
            deleted = 0
            for table in (revoked_tokens, revoked_families, revoked_principals):
                result = await conn.execute(delete(table).where(table.c.expires_at <= now))
                deleted += int(result.rowcount or 0)
            return deleted


def _to_principal(row: Any) -> RevokedPrincipal:
    return RevokedPrincipal(
        kind=row.kind,
        principal_id=row.principal_id,
        not_before=as_utc(row.not_before),
        expires_at=as_utc(row.expires_at),
    )
