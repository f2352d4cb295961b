"""The authorize stores over SQLAlchemy Core (SQLite or PostgreSQL).

Database errors become domain errors here, at the boundary: a taken username
or email is Conflict, an unreachable database is TemporarilyUnavailable.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Row, and_, delete, func, insert, or_, select, tuple_, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.db import database_errors, escape_like
from common.errors import Conflict
from common.timeutil import as_utc
from services.authorize.domain.authorization_request import (
    AuthorizationRequest,
    ValidatedAuthorizationRequest,
)
from services.authorize.domain.model import (
    AuthorizationCode,
    ClientInfo,
    Consent,
    DeviceAuthorization,
    DeviceStatus,
    User,
)
from services.authorize.domain.sign_in import Interaction
from services.authorize.domain.user_rules import username_key
from services.authorize.store.tables import (
    authorization_codes,
    consents,
    device_authorizations,
    interactions,
    users,
)

UNAVAILABLE: Final = "The user directory is unavailable"


def _utc(values: dict[str, Any], *names: str) -> dict[str, Any]:
    for name in names:
        if values.get(name) is not None:
            values[name] = as_utc(values[name])  # SQLite returns naive datetimes
    return values


# --- users -------------------------------------------------------------------

_USER_FIELDS = [field.name for field in dataclasses.fields(User)]


def _email_columns(email: str) -> dict[str, Any]:
    return {"email": email or None, "email_key": email.lower() or None}


def _user_row(user: User) -> dict[str, Any]:
    row = {name: getattr(user, name) for name in _USER_FIELDS}
    row.update(_email_columns(user.email))
    row["username_key"] = username_key(user.username)
    row["provider"] = user.provider or None
    row["provider_user_id"] = user.provider_user_id or None
    return row


def _user_from_row(row: Row[Any]) -> User:
    values = {name: row._mapping[name] for name in _USER_FIELDS}
    for name in ("email", "provider", "provider_user_id"):
        values[name] = values[name] or ""
    return User(**_utc(values, "created_at", "updated_at", "password_changed_at"))


class SqlUserStore:
    """Users in the service's own schema (or SQLite file)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, user: User) -> None:
        with database_errors(UNAVAILABLE):
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(insert(users).values(_user_row(user)))
            except sa_exc.IntegrityError:
                raise await self._which_conflict(user) from None

    async def _which_conflict(self, user: User) -> Conflict:
        async with self._engine.connect() as conn:
            taken = await conn.scalar(
                select(users.c.user_id).where(users.c.username_key == username_key(user.username))
            )
        if taken is not None:
            return Conflict(f"Username {user.username!r} is already taken")
        if user.email:
            return Conflict(f"Email {user.email!r} is already in use")
        return Conflict(f"User {user.user_id!r} already exists")

    async def get(self, user_id: str) -> User | None:
        return await self._one(users.c.user_id == user_id)

    async def get_by_username(self, username: str) -> User | None:
        return await self._one(users.c.username_key == username_key(username))

    async def _one(self, condition: Any) -> User | None:
        with database_errors(UNAVAILABLE):
            async with self._engine.connect() as conn:
                row = (await conn.execute(select(users).where(condition))).first()
        return _user_from_row(row) if row is not None else None

    async def list(self, *, after: str | None, limit: int, search: str) -> tuple[list[User], int]:
        condition = None
        if search:
            pattern = f"%{escape_like(search.lower())}%"
            condition = or_(
                users.c.username_key.like(pattern, escape="\\"),
                users.c.email_key.like(pattern, escape="\\"),
            )
        page = select(users).order_by(users.c.username_key).limit(limit)
        count = select(func.count()).select_from(users)
        if condition is not None:
            page = page.where(condition)
            count = count.where(condition)
        if after is not None:
            page = page.where(users.c.username_key > after)
        with database_errors(UNAVAILABLE):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(page)).all()
                total = (await conn.execute(count)).scalar_one()
        return [_user_from_row(row) for row in rows], int(total)

    async def update(
        self, user_id: str, changes: Mapping[str, object], updated_at: datetime
    ) -> User | None:
        values: dict[str, Any] = dict(changes)
        if "email" in values:
            values.update(_email_columns(str(values["email"])))
        values["updated_at"] = updated_at
        with database_errors(UNAVAILABLE):
            try:
                async with self._engine.begin() as conn:
                    result = await conn.execute(
                        update(users).where(users.c.user_id == user_id).values(values)
                    )
                    if result.rowcount != 1:
                        return None
                    reread = select(users).where(users.c.user_id == user_id)
                    row = (await conn.execute(reread)).one()
            except sa_exc.IntegrityError:
                raise Conflict(f"Email {values.get('email')!r} is already in use") from None
        return _user_from_row(row)

    async def set_password_hash(
        self, user_id: str, password_hash: str, updated_at: datetime, *, changed: bool = False
    ) -> bool:
        values: dict[str, Any] = {"password_hash": password_hash, "updated_at": updated_at}
        if changed:
            values["password_changed_at"] = updated_at
        statement = update(users).where(users.c.user_id == user_id).values(values)
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return bool(result.rowcount)

    async def delete(self, user_id: str) -> bool:
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                await conn.execute(delete(consents).where(consents.c.user_id == user_id))
                await conn.execute(
                    delete(authorization_codes).where(authorization_codes.c.user_id == user_id)
                )
                await conn.execute(
                    delete(device_authorizations).where(device_authorizations.c.subject == user_id)
                )
                result = await conn.execute(delete(users).where(users.c.user_id == user_id))
        return bool(result.rowcount)


# --- consents ----------------------------------------------------------------


def _consent_from_row(row: Row[Any]) -> Consent:
    return Consent(**_utc(dict(row._mapping), "granted_at", "updated_at"))


class SqlConsentStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, client_id: str, user_id: str) -> Consent | None:
        with database_errors(UNAVAILABLE):
            async with self._engine.connect() as conn:
                row = await self._row(conn, client_id, user_id)
        return _consent_from_row(row) if row is not None else None

    @staticmethod
    async def _row(
        conn: AsyncConnection, client_id: str, user_id: str, *, for_update: bool = False
    ) -> Row[Any] | None:
        statement = select(consents).where(
            consents.c.client_id == client_id, consents.c.user_id == user_id
        )
        if for_update:
            statement = statement.with_for_update()  # a no-op on SQLite, which locks the file
        return (await conn.execute(statement)).first()

    async def merge(
        self, client_id: str, user_id: str, scopes: tuple[str, ...], now: datetime
    ) -> Consent:
        # Two first grants may race to insert; the loser merges into the winner's row.
        for attempt in range(2):
            try:
                with database_errors(UNAVAILABLE):
                    return await self._merge_once(client_id, user_id, scopes, now)
            except sa_exc.IntegrityError:
                if attempt:
                    raise Conflict("The consent was changed concurrently; retry") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _merge_once(
        self, client_id: str, user_id: str, scopes: tuple[str, ...], now: datetime
    ) -> Consent:
        async with self._engine.begin() as conn:
            row = await self._row(conn, client_id, user_id, for_update=True)
            if row is None:
                consent = Consent(client_id, user_id, scopes, granted_at=now, updated_at=now)
                await conn.execute(insert(consents).values(dataclasses.asdict(consent)))
                return consent
            current = _consent_from_row(row)
            merged = current.scopes + tuple(s for s in scopes if s not in current.scopes)
            if merged == current.scopes:
                return current
            await conn.execute(
                update(consents)
                .where(consents.c.client_id == client_id, consents.c.user_id == user_id)
                .values(scopes=merged, updated_at=now)
            )
            return dataclasses.replace(current, scopes=merged, updated_at=now)

    async def list(
        self, *, user_id: str, client_id: str, after: tuple[str, str] | None, limit: int
    ) -> tuple[list[Consent], int]:
        conditions = []
        if user_id:
            conditions.append(consents.c.user_id == user_id)
        if client_id:
            conditions.append(consents.c.client_id == client_id)
        where = and_(*conditions) if conditions else None
        page = select(consents).order_by(consents.c.client_id, consents.c.user_id).limit(limit)
        count = select(func.count()).select_from(consents)
        if where is not None:
            page = page.where(where)
            count = count.where(where)
        if after is not None:
            page = page.where(tuple_(consents.c.client_id, consents.c.user_id) > tuple_(*after))
        with database_errors(UNAVAILABLE):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(page)).all()
                total = (await conn.execute(count)).scalar_one()
        return [_consent_from_row(row) for row in rows], int(total)

    async def delete(self, client_id: str, user_id: str) -> bool:
        statement = delete(consents).where(
            consents.c.client_id == client_id, consents.c.user_id == user_id
        )
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return bool(result.rowcount)

    async def delete_all(self, *, client_id: str, user_id: str) -> int:
        conditions = []
        if client_id:
            conditions.append(consents.c.client_id == client_id)
        if user_id:
            conditions.append(consents.c.user_id == user_id)
        if not conditions:
            # An empty selector would empty the table: never what a caller means.
            raise ValueError("delete_all needs client_id or user_id")
        statement = delete(consents).where(*conditions)
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return int(result.rowcount)


# --- authorization codes -----------------------------------------------------


def _code_from_row(row: Row[Any]) -> AuthorizationCode:
    values = _utc(dict(row._mapping), "auth_time", "created_at", "expires_at", "used_at")
    return AuthorizationCode(**values)


class SqlAuthorizationCodeStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, code: AuthorizationCode) -> None:
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                await conn.execute(insert(authorization_codes).values(dataclasses.asdict(code)))

    async def consume(
        self, code_id: str, used_at: datetime
    ) -> tuple[AuthorizationCode | None, bool]:
        # The row is marked first: of two concurrent consumers exactly one sees rowcount 1.
        mark = (
            update(authorization_codes)
            .where(
                authorization_codes.c.code_id == code_id,
                authorization_codes.c.used_at.is_(None),
            )
            .values(used_at=used_at)
        )
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                first_use = (await conn.execute(mark)).rowcount == 1
                row = (
                    await conn.execute(
                        select(authorization_codes).where(authorization_codes.c.code_id == code_id)
                    )
                ).first()
        return (_code_from_row(row) if row is not None else None), first_use

    async def delete_expired(self, before: datetime) -> int:
        statement = delete(authorization_codes).where(authorization_codes.c.expires_at < before)
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return int(result.rowcount or 0)


# --- interactions ------------------------------------------------------------


def _tuples(values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON gives lists where the domain keeps tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _validated_to_json(validated: ValidatedAuthorizationRequest) -> str:
    return json.dumps(dataclasses.asdict(validated), separators=(",", ":"))


def _validated_from_json(raw: str) -> ValidatedAuthorizationRequest:
    data = json.loads(raw)
    return ValidatedAuthorizationRequest(
        **_tuples(data)
        | {
            "request": AuthorizationRequest(**_tuples(data["request"])),
            "client": ClientInfo(**_tuples(data["client"])),
        }
    )


def _interaction_from_row(row: Row[Any]) -> Interaction:
    values = _utc(dict(row._mapping), "auth_time", "created_at", "expires_at", "finished_at")
    del values["client_id"]
    values["validated"] = _validated_from_json(values.pop("request"))
    return Interaction(**values)


class SqlInteractionStore:
    """Pending authorization requests (services.authorize.domain.sign_in)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, interaction: Interaction, keep_per_binding: int) -> None:
        row = {
            field.name: getattr(interaction, field.name)
            for field in dataclasses.fields(Interaction)
            if field.name != "validated"
        }
        row["client_id"] = interaction.validated.client.client_id
        row["request"] = _validated_to_json(interaction.validated)
        same_binding = (
            interactions.c.binding_key == interaction.binding_key,
            interactions.c.finished_at.is_(None),
        )
        newest = (
            select(interactions.c.interaction_key)
            .where(*same_binding)
            .order_by(interactions.c.created_at.desc(), interactions.c.interaction_key.desc())
            .limit(keep_per_binding)
        )
        beyond = (
            update(interactions)
            .where(*same_binding, interactions.c.interaction_key.not_in(newest.scalar_subquery()))
            .values(finished_at=interaction.created_at)
        )
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                await conn.execute(insert(interactions).values(row))
                await conn.execute(beyond)

    async def get(self, interaction_key: str) -> Interaction | None:
        query = select(interactions).where(interactions.c.interaction_key == interaction_key)
        with database_errors(UNAVAILABLE):
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
        return _interaction_from_row(row) if row is not None else None

    async def record_login(
        self, interaction_key: str, subject: str, auth_time: datetime, amr: tuple[str, ...]
    ) -> bool:
        return await self._update_unfinished(
            interaction_key, subject=subject, auth_time=auth_time, amr=amr, fresh_login=True
        )

    async def finish(self, interaction_key: str, finished_at: datetime) -> bool:
        # Of two concurrent finishers exactly one sees rowcount 1.
        return await self._update_unfinished(interaction_key, finished_at=finished_at)

    async def _update_unfinished(self, interaction_key: str, **values: Any) -> bool:
        statement = (
            update(interactions)
            .where(
                interactions.c.interaction_key == interaction_key,
                interactions.c.finished_at.is_(None),
            )
            .values(**values)
        )
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return result.rowcount == 1

    async def delete_expired(self, before: datetime) -> int:
        statement = delete(interactions).where(interactions.c.expires_at < before)
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return int(result.rowcount or 0)


# --- device authorizations ---------------------------------------------------------


def _device_from_row(row: Row[Any]) -> DeviceAuthorization:
    values = _utc(
        dict(row._mapping), "created_at", "expires_at", "next_poll_at", "auth_time", "decided_at"
    )
    values["status"] = DeviceStatus(values["status"])
    return DeviceAuthorization(**values)


class SqlDeviceAuthorizationStore:
    """Device authorizations (services.authorize.domain.device_authorization)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, authorization: DeviceAuthorization) -> None:
        row = dataclasses.asdict(authorization)
        row["status"] = str(authorization.status)
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                try:
                    await conn.execute(insert(device_authorizations).values(row))
                except sa_exc.IntegrityError:
                    raise Conflict("The user_code is taken") from None

    async def get(self, device_key: str) -> DeviceAuthorization | None:
        return await self._one(device_authorizations.c.device_key == device_key)

    async def get_by_user_code(self, user_code_key: str) -> DeviceAuthorization | None:
        return await self._one(device_authorizations.c.user_code_key == user_code_key)

    async def _one(self, condition: Any) -> DeviceAuthorization | None:
        with database_errors(UNAVAILABLE):
            async with self._engine.connect() as conn:
                row = (await conn.execute(select(device_authorizations).where(condition))).first()
        return _device_from_row(row) if row is not None else None

    async def record_poll(
        self,
        device_key: str,
        *,
        seen: datetime | None,
        interval: int,
        next_poll_at: datetime,
    ) -> bool:
        column = device_authorizations.c.next_poll_at
        return await self._change(
            device_key,
            DeviceStatus.PENDING,
            column.is_(None) if seen is None else column == seen,
            interval=interval,
            next_poll_at=next_poll_at,
        )

    async def decide(
        self,
        device_key: str,
        *,
        approved: bool,
        subject: str,
        auth_time: datetime | None,
        amr: tuple[str, ...],
        scopes: tuple[str, ...],
        now: datetime,
    ) -> bool:
        return await self._change(
            device_key,
            DeviceStatus.PENDING,
            device_authorizations.c.expires_at > now,
            status=str(DeviceStatus.APPROVED if approved else DeviceStatus.DENIED),
            subject=subject,
            auth_time=auth_time,
            amr=amr,
            scopes=scopes,
            decided_at=now,
        )

    async def redeem(self, device_key: str) -> bool:
        return await self._change(
            device_key, DeviceStatus.APPROVED, status=str(DeviceStatus.REDEEMED)
        )

    async def _change(
        self, device_key: str, from_status: DeviceStatus, *conditions: Any, **values: Any
    ) -> bool:
        """Of two concurrent changes from the same state exactly one sees rowcount 1."""
        statement = (
            update(device_authorizations)
            .where(
                device_authorizations.c.device_key == device_key,
                device_authorizations.c.status == str(from_status),
                *conditions,
            )
            .values(**values)
        )
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return result.rowcount == 1

    async def delete_expired(self, before: datetime) -> int:
        statement = delete(device_authorizations).where(device_authorizations.c.expires_at < before)
        with database_errors(UNAVAILABLE):
            async with self._engine.begin() as conn:
                result = await conn.execute(statement)
        return int(result.rowcount or 0)
