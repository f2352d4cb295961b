"""Store contract tests for what operators need (docs/operators.md), run against SQLite
and PostgreSQL: key rotation and retirement, not-before entries, listing and revoking
grant families, and migration 0003 on a database at 0002."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from common.migrations import upgrade
from common.timeutil import utcnow
from services.token import MIGRATIONS_DIR
from services.token.domain.keys import KeyManager
from services.token.domain.ports import GrantFamily, RevokedPrincipal
from services.token.settings import TokenSettings
from services.token.store.grants import SqlGrantStore
from services.token.store.sql import SqlDenylistStore, SqlSigningKeyStore
from services.token.store.tables import grant_families, signing_keys
from services.token.tests.test_store import migrated, new_key, pg_schema

__all__ = ["pg_schema"]  # the fixture, used below


@pytest.fixture
async def engine(database_url: tuple[str, str]) -> AsyncIterator[AsyncEngine]:
    settings = await migrated(*database_url)
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


async def test_rotate_and_retire_keys(engine: AsyncEngine, kek: bytes) -> None:
    store = SqlSigningKeyStore(engine)
    first = await store.add_active_key(new_key(kek))
    now = utcnow().replace(microsecond=0)
    second = replace(new_key(kek), created_at=now)
    await store.rotate_key(second, retire_after=now + timedelta(hours=1))
    assert await store.active_key("ES256") == second
    previous = await store.get_key(first.kid)
    assert previous is not None and previous.status == "previous"
    assert previous.retire_after == now + timedelta(hours=1)
    assert previous.retire_after.tzinfo == UTC

    # Nothing is due yet; then the due key retires at its retire_after.
    assert await store.retire_due(now) == 0
    assert await store.retire_due(now + timedelta(hours=1)) == 1
    retired = await store.get_key(first.kid)
    assert retired is not None and retired.status == "retired"
    assert retired.retired_at == now + timedelta(hours=1)
    assert await store.retire_due(now + timedelta(hours=2)) == 0

    # retire_key: previous keys only.
    third = new_key(kek)
    await store.rotate_key(third, retire_after=now + timedelta(hours=1))
    assert not await store.retire_key(third.kid, now)  # active
    assert not await store.retire_key(first.kid, now)  # retired already
    assert not await store.retire_key("missing", now)
    assert await store.retire_key(second.kid, now)
    statuses = {k.kid: k.status for k in await store.list_keys()}
    assert statuses == {first.kid: "retired", second.kid: "retired", third.kid: "active"}

    # A rotation of an alg without a key is simply its first active key.
    rs = new_key(kek, "RS256")
    await store.rotate_key(rs, retire_after=now)
    assert await store.active_key("RS256") == rs


async def test_not_before_entries_move_forward_only(engine: AsyncEngine) -> None:
    store = SqlDenylistStore(engine)
    now = utcnow().replace(microsecond=0)
    first = RevokedPrincipal("subject", "user-1", now, now + timedelta(hours=1))
    assert await store.add_principal(first) == first
    later = RevokedPrincipal(
        "subject", "user-1", now + timedelta(minutes=5), now + timedelta(hours=2)
    )
    assert await store.add_principal(later) == later
    # An older revocation (a replica with a slow clock) moves nothing back.
    older = RevokedPrincipal("subject", "user-1", now - timedelta(minutes=5), now)
    assert await store.add_principal(older) == later
    client = RevokedPrincipal("client", "user-1", now, now + timedelta(hours=1))
    await store.add_principal(client)  # same id, other kind: its own entry

    assert await store.principal_not_before("subject", "user-1", now) == later.not_before
    assert await store.principal_not_before("client", "user-1", now) == now
    assert await store.principal_not_before("client", "other", now) is None
    expired_at = now + timedelta(hours=1)
    assert await store.principal_not_before("client", "user-1", expired_at) is None

    listed = await store.list_unexpired_principals(now)
    assert sorted((e.kind, e.not_before) for e in listed) == [
        ("client", now),
        ("subject", later.not_before),
    ]
    since = await store.list_unexpired_principals(now, revoked_since=now + timedelta(minutes=1))
    assert since == [later]
    assert await store.delete_expired(expired_at) == 1
    assert [e.kind for e in await store.list_unexpired_principals(now)] == ["subject"]


def family(family_id: str, minutes_ago: int, **changes: object) -> GrantFamily:
    now = utcnow().replace(microsecond=0)
    base = GrantFamily(
        family_id=family_id,
        client_id="web",
        subject="user-1",
        scope=("openid", "offline_access"),
        created_at=now - timedelta(minutes=minutes_ago),
        expires_at=now + timedelta(days=1),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_list_revoke_and_count_families(engine: AsyncEngine) -> None:
    store = SqlGrantStore(engine)
    now = utcnow()
    f5 = family("f5", 5, subject="user-2")
    for f in (
        family("f1", 30),
        family("f2", 20),
        family("f3", 20),
        family("f4", 10, client_id="other"),
        f5,
        family("f-expired", 90, expires_at=now - timedelta(seconds=1)),
    ):
        await store.create_family(f)
    await store.create_family(family("f-revoked", 1))
    await store.revoke_family("f-revoked", "x", now)

    page, total = await store.list_families(now, subject="user-1", limit=2)
    assert [f.family_id for f in page] == ["f4", "f3"] and total == 4
    cursor = (page[-1].created_at, page[-1].family_id)
    page, total = await store.list_families(now, subject="user-1", after=cursor, limit=2)
    assert [f.family_id for f in page] == ["f2", "f1"] and total == 4
    page, _ = await store.list_families(now, subject="user-1", client_id="web", limit=10)
    assert [f.family_id for f in page] == ["f3", "f2", "f1"]
    page, total = await store.list_families(now, client_id="web", limit=10)
    assert [f.family_id for f in page] == ["f5", "f3", "f2", "f1"] and total == 4
    assert page[0] == f5
    assert await store.count_active_families(now) == 5

    revoked = await store.revoke_families(subject="user-1", reason="user disabled", now=now)
    assert sorted(revoked) == ["f1", "f2", "f3", "f4"]
    assert await store.revoke_families(subject="user-1", reason="again", now=now) == []
    marked = await store.get_family("f2")
    assert marked is not None and marked.revoke_reason == "user disabled"
    expired = await store.get_family("f-expired")
    assert expired is not None and expired.revoked_at is None  # dead already, not counted
    assert await store.revoke_families(client_id="web", reason="client deleted", now=now) == ["f5"]
    assert await store.count_active_families(now) == 0
    assert await store.list_families(now, subject="user-1", limit=10) == ([], 0)


async def test_migration_0003_keeps_rows_of_0002(database_url: tuple[str, str], kek: bytes) -> None:
    url, schema = database_url
    settings = TokenSettings(database_url=url, database_schema=schema)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR, "0002_grant_families")
    engine = create_engine(settings)
    key, grant = new_key(kek), family("kept", 1)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(signing_keys).values(
                    kid=key.kid,
                    alg=key.alg,
                    status="active",
                    public_jwk="{}",
                    private_key_enc=key.private_key_enc,
                    created_at=key.created_at,
                )
            )
        async with engine.begin() as conn:
            # A row as 0002 wrote it (the store of today writes columns added since).
            await conn.execute(
                insert(grant_families).values(
                    family_id=grant.family_id,
                    client_id=grant.client_id,
                    subject=grant.subject,
                    scope=" ".join(grant.scope),
                    auth_time=grant.auth_time,
                    amr=json.dumps(list(grant.amr)),
                    created_at=grant.created_at,
                    expires_at=grant.expires_at,
                )
            )
        await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
        # The pool may hold connections that saw the old table; start afresh.
        await engine.dispose()
        async with engine.connect() as conn:
            row = (await conn.execute(select(signing_keys))).one()
            assert (row.kid, row.status, row.retire_after) == (key.kid, "active", None)
            assert (await conn.execute(select(grant_families.c.family_id))).scalars().all() == [
                "kept"
            ]
        assert await SqlGrantStore(engine).get_family("kept") == grant
        assert await SqlDenylistStore(engine).list_unexpired_principals(utcnow()) == []
    finally:
        await engine.dispose()


async def test_concurrent_rotations_leave_one_active_key_per_alg(
    pg_schema: tuple[str, str], kek: bytes
) -> None:
    """Replicas rotating at once on PostgreSQL, each on its own engine (own connections)."""
    settings = await migrated(*pg_schema)
    engines = [create_engine(settings) for _ in range(4)]
    try:
        managers = [KeyManager(SqlSigningKeyStore(e), kek, algs=("ES256",)) for e in engines]
        await managers[0].start()
        await asyncio.gather(*(m.start() for m in managers[1:]))
        rotated = await asyncio.gather(*(m.rotate("ES256") for m in managers))
        async with engines[0].connect() as conn:
            rows = (await conn.execute(select(signing_keys))).all()
        statuses = sorted(row.status for row in rows)
        assert statuses == ["active", "previous", "previous", "previous", "previous"]
        active = next(row.kid for row in rows if row.status == "active")
        assert active in {key.kid for key in rotated}
        for manager in managers:
            await manager.reload()
            assert manager.signing_key("ES256").kid == active
    finally:
        for e in engines:
            await e.dispose()
