"""The grant families and refresh tokens store over SQL (SQLite and PostgreSQL),
with the boundary of ``store.sql``: a span per method, database errors turned
into domain errors."""

from __future__ import annotations

import json
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.errors import InvalidGrant
from common.scopes import format_scope
from common.timeutil import as_utc
from services.token.domain.ports import GrantFamily, StoredRefreshToken
from services.token.store.sql import store_boundary
from services.token.store.tables import grant_families, refresh_tokens


def _split_scope(value: str) -> tuple[str, ...]:
    return tuple(token for token in value.split(" ") if token)


def _optional_utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


#: The label prefix of the family's columns where a statement reads them beside a token's.
_FAMILY = "family__"


def _to_family(row: Any) -> GrantFamily:
    return GrantFamily(
        family_id=row.family_id,
        client_id=row.client_id,
        subject=row.subject,
        scope=_split_scope(row.scope),
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        auth_time=_optional_utc(row.auth_time),
        amr=tuple(json.loads(row.amr)),
        last_used_at=_optional_utc(row.last_used_at),
        revoked_at=_optional_utc(row.revoked_at),
        revoke_reason=row.revoke_reason or "",
        resource=row.resource,
        sid=row.sid,
        dpop_jkt=row.dpop_jkt,
    )


def _to_refresh_token(row: Any) -> StoredRefreshToken:
    return StoredRefreshToken(
        token_hash=row.token_hash,
        family_id=row.family_id,
        client_id=row.client_id,
        subject=row.subject,
        scope=_split_scope(row.scope),
        issued_at=as_utc(row.issued_at),
        expires_at=as_utc(row.expires_at),
        used_at=_optional_utc(row.used_at),
    )


def _refresh_token_row(token: StoredRefreshToken) -> dict[str, Any]:
    return {
        "token_hash": token.token_hash,
        "family_id": token.family_id,
        "client_id": token.client_id,
        "subject": token.subject,
        "scope": format_scope(token.scope),
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "used_at": token.used_at,
    }


class SqlGrantStore:
    """GrantStore over SQLAlchemy Core: grant families and hashed refresh tokens."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_family(
        self, family: GrantFamily, refresh_token: StoredRefreshToken | None = None
    ) -> None:
        with store_boundary("create_family"):
            try:
                # One transaction: a family is never left without its first refresh
                # token by a database that went away between two writes.
                async with self._engine.begin() as conn:
                    await self._insert_family(conn, family)
                    if refresh_token is not None:
                        await conn.execute(
                            insert(refresh_tokens).values(**_refresh_token_row(refresh_token))
                        )
            except IntegrityError:
                # The family id is the code's hash: a second family means a second use.
                raise InvalidGrant("The authorization code was used already") from None

    @staticmethod
    async def _insert_family(conn: AsyncConnection, family: GrantFamily) -> None:
        await conn.execute(
            insert(grant_families).values(
                family_id=family.family_id,
                client_id=family.client_id,
                subject=family.subject,
                scope=format_scope(family.scope),
                auth_time=family.auth_time,
                amr=json.dumps(list(family.amr)),
                created_at=family.created_at,
                last_used_at=family.last_used_at,
                expires_at=family.expires_at,
                revoked_at=family.revoked_at,
                revoke_reason=family.revoke_reason or None,
                resource=family.resource,
                sid=family.sid,
                dpop_jkt=family.dpop_jkt,
            )
        )

    async def get_family(self, family_id: str) -> GrantFamily | None:
        async with (
            store_boundary("get_family"),
            self._engine.connect() as conn,
        ):
            row = (
                await conn.execute(
                    select(grant_families).where(grant_families.c.family_id == family_id)
                )
            ).first()
            return _to_family(row) if row is not None else None

    async def revoke_family(self, family_id: str, reason: str, now: datetime) -> bool:
        async with (
            store_boundary("revoke_family"),
            self._engine.begin() as conn,
        ):
            result = await conn.execute(
                update(grant_families)
                .where(
                    grant_families.c.family_id == family_id,
                    grant_families.c.revoked_at.is_(None),
                )
                .values(revoked_at=now, revoke_reason=reason[:255])
            )
            return bool(result.rowcount)

    async def add_refresh_token(self, token: StoredRefreshToken) -> None:
        async with (
            store_boundary("add_refresh_token"),
            self._engine.begin() as conn,
        ):
            await conn.execute(insert(refresh_tokens).values(**_refresh_token_row(token)))

    async def get_refresh_token(self, token_hash: str) -> StoredRefreshToken | None:
        async with (
            store_boundary("get_refresh_token"),
            self._engine.connect() as conn,
        ):
            row = (
                await conn.execute(
                    select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
                )
            ).first()
            return _to_refresh_token(row) if row is not None else None

    async def get_refresh_token_with_family(
        self, token_hash: str
    ) -> tuple[StoredRefreshToken, GrantFamily] | None:
        # One statement and one connection: a refresh reads both on every use.
        family_columns = [column.label(_FAMILY + column.name) for column in grant_families.c]
        query = (
            select(refresh_tokens, *family_columns)
            .join(grant_families, grant_families.c.family_id == refresh_tokens.c.family_id)
            .where(refresh_tokens.c.token_hash == token_hash)
        )
        async with (
            store_boundary("get_refresh_token_with_family"),
            self._engine.connect() as conn,
        ):
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        values = row._mapping
        family = {column.name: values[_FAMILY + column.name] for column in grant_families.c}
        return _to_refresh_token(row), _to_family(SimpleNamespace(**family))

    async def rotate_refresh_token(
        self, used_hash: str, successor: StoredRefreshToken, now: datetime
    ) -> bool:
        async with (
            store_boundary("rotate_refresh_token"),
            self._engine.begin() as conn,
        ):
            # The single-use guard: the row lock (PostgreSQL) or the write lock (SQLite)
            # lets exactly one of two concurrent rotations see used_at IS NULL.
            marked = await conn.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.token_hash == used_hash,
                    refresh_tokens.c.used_at.is_(None),
                )
                .values(used_at=now)
            )
            if marked.rowcount != 1:
                return False  # nothing was written
            await conn.execute(insert(refresh_tokens).values(**_refresh_token_row(successor)))
            await conn.execute(
                update(grant_families)
                .where(grant_families.c.family_id == successor.family_id)
                .values(last_used_at=now)
            )
            return True

    async def list_families(
        self,
        now: datetime,
        *,
        subject: str = "",
        client_id: str = "",
        after: tuple[datetime, str] | None = None,
        limit: int,
    ) -> tuple[list[GrantFamily], int]:
        table = grant_families
        conditions = [table.c.revoked_at.is_(None), table.c.expires_at > now]
        if subject:
            conditions.append(table.c.subject == subject)
        if client_id:
            conditions.append(table.c.client_id == client_id)
        query = select(table).where(*conditions)
        if after is not None:
            created_at, family_id = after
            query = query.where(
                or_(
                    table.c.created_at < created_at,
                    and_(table.c.created_at == created_at, table.c.family_id < family_id),
                )
            )
        query = query.order_by(table.c.created_at.desc(), table.c.family_id.desc()).limit(limit)
        async with (
            store_boundary("list_families"),
            self._engine.connect() as conn,
        ):
            rows = await conn.execute(query)
            families = [_to_family(row) for row in rows]
            total = (
                await conn.execute(select(func.count()).select_from(table).where(*conditions))
            ).scalar_one()
            return families, int(total)

    async def revoke_families(
        self, *, subject: str = "", client_id: str = "", reason: str, now: datetime
    ) -> list[str]:
        table = grant_families
        selector = table.c.subject == subject if subject else table.c.client_id == client_id
        async with (
            store_boundary("revoke_families"),
            self._engine.begin() as conn,
        ):
            # RETURNING (PostgreSQL, SQLite >= 3.35): exactly the rows this call revoked.
            # Expired families are dead already and are not counted.
            result = await conn.execute(
                update(table)
                .where(selector, table.c.revoked_at.is_(None), table.c.expires_at > now)
                .values(revoked_at=now, revoke_reason=reason[:255])
                .returning(table.c.family_id)
            )
            return list(result.scalars())

    async def count_active_families(self, now: datetime) -> int:
        table = grant_families
        async with (
            store_boundary("count_active_families"),
            self._engine.connect() as conn,
        ):
            total = (
                await conn.execute(
                    select(func.count())
                    .select_from(table)
                    .where(table.c.revoked_at.is_(None), table.c.expires_at > now)
                )
            ).scalar_one()
            return int(total)

    async def families_of_session(self, sid: str) -> list[GrantFamily]:
        table = grant_families
        async with (
            store_boundary("families_of_session"),
            self._engine.connect() as conn,
        ):
            rows = await conn.execute(
                select(table)
                .where(table.c.sid == sid, table.c.revoked_at.is_(None))
                .order_by(table.c.created_at, table.c.family_id)
            )
            return [_to_family(row) for row in rows]
