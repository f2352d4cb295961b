"""Store contract tests for grant families, refresh tokens and revoked families,
run against SQLite and PostgreSQL (Hydra style)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, timedelta

import pytest
from sqlalchemy import insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from common.errors import InvalidGrant
from common.migrations import downgrade, upgrade
from common.secrets import random_token, sha256_hex
from common.timeutil import utcnow
from services.token import MIGRATIONS_DIR
from services.token.domain.ports import GrantFamily, RevokedFamily, StoredRefreshToken
from services.token.settings import TokenSettings
from services.token.store.grants import SqlGrantStore
from services.token.store.sql import SqlDenylistStore
from services.token.store.tables import grant_families, refresh_tokens
from services.token.tests.test_store import migrated


@pytest.fixture
async def engine(database_url: tuple[str, str]) -> AsyncIterator[AsyncEngine]:
    settings = await migrated(*database_url)
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


def family(family_id: str = "fam-1") -> GrantFamily:
    now = utcnow().replace(microsecond=0)
    return GrantFamily(
        family_id=family_id,
        client_id="web",
        subject="user-1",
        scope=("openid", "offline_access"),
        created_at=now,
        expires_at=now + timedelta(days=90),
        auth_time=now - timedelta(minutes=1),
        amr=("pwd", "otp"),
    )


def refresh_token(family_id: str = "fam-1") -> tuple[str, StoredRefreshToken]:
    token = random_token()
    now = utcnow().replace(microsecond=0)
    return token, StoredRefreshToken(
        token_hash=sha256_hex(token),
        family_id=family_id,
        client_id="web",
        subject="user-1",
        scope=("openid", "offline_access"),
        issued_at=now,
        expires_at=now + timedelta(days=30),
    )


async def test_grant_families(engine: AsyncEngine) -> None:
    store = SqlGrantStore(engine)
    created = family()
    await store.create_family(created)
    assert await store.get_family("fam-1") == created
    assert await store.get_family("missing") is None
    loaded = await store.get_family("fam-1")
    assert loaded is not None and loaded.expires_at.tzinfo == UTC
    with pytest.raises(InvalidGrant):
        await store.create_family(created)

    now = utcnow()
    assert await store.revoke_family("fam-1", "refresh token reused", now)
    assert not await store.revoke_family("fam-1", "again", now)  # revoked already
    assert not await store.revoke_family("missing", "x", now)
    revoked = await store.get_family("fam-1")
    assert revoked is not None and revoked.revoke_reason == "refresh token reused"
    assert revoked.revoked_at is not None


async def test_refresh_tokens_rotate_once_and_hold_only_hashes(engine: AsyncEngine) -> None:
    store = SqlGrantStore(engine)
    await store.create_family(family())
    token, first = refresh_token()
    await store.add_refresh_token(first)
    assert await store.get_refresh_token(first.token_hash) == first
    assert await store.get_refresh_token(sha256_hex("other")) is None

    _, second = refresh_token()
    now = utcnow()
    assert await store.rotate_refresh_token(first.token_hash, second, now)
    used = await store.get_refresh_token(first.token_hash)
    assert used is not None and used.used_at is not None
    assert await store.get_refresh_token(second.token_hash) == second
    touched = await store.get_family("fam-1")
    assert touched is not None and touched.last_used_at is not None

    # A used token rotates no more, and its would-be successor is not stored.
    _, third = refresh_token()
    assert not await store.rotate_refresh_token(first.token_hash, third, utcnow())
    assert await store.get_refresh_token(third.token_hash) is None

    async with engine.connect() as conn:
        rows = (await conn.execute(select(refresh_tokens))).all()
    assert {row.token_hash for row in rows} == {first.token_hash, second.token_hash}

    for row in rows:
        assert token not in tuple(str(value) for value in row)


async def test_a_refresh_token_is_read_with_its_family_in_one_go(engine: AsyncEngine) -> None:
    store = SqlGrantStore(engine)
    created = family()
    await store.create_family(created)
    _, first = refresh_token()
    await store.add_refresh_token(first)
    # The family's columns are the family's, where they share a name with the token's.
    assert await store.get_refresh_token_with_family(first.token_hash) == (
        first,
        await store.get_family("fam-1"),
    )
    _, second = refresh_token()
    now = utcnow()
    assert await store.rotate_refresh_token(first.token_hash, second, now)
    assert await store.revoke_family("fam-1", "refresh token reused", now)
    found = await store.get_refresh_token_with_family(first.token_hash)
    assert found is not None
    used, revoked = found
    assert used.used_at is not None and used.expires_at == first.expires_at
    assert revoked.revoked_at is not None and revoked.expires_at == created.expires_at
    assert revoked.amr == ("pwd", "otp") and revoked.scope == created.scope
    assert await store.get_refresh_token_with_family(sha256_hex("other")) is None
    # A token whose family is gone is no token.
    _, orphan = refresh_token("fam-gone")
    await store.add_refresh_token(orphan)
    assert await store.get_refresh_token_with_family(orphan.token_hash) is None


async def test_concurrent_rotations_exactly_one_wins(
    engine: AsyncEngine, database_url: tuple[str, str]
) -> None:
    """Replicas rotate one token at once, each on its own engine (own connections)."""
    store = SqlGrantStore(engine)
    await store.create_family(family())
    _, first = refresh_token()
    await store.add_refresh_token(first)
    settings = await migrated(*database_url)
    engines = [create_engine(settings) for _ in range(4)]
    try:
        successors = [refresh_token()[1] for _ in engines]
        results = await asyncio.gather(
            *(
                SqlGrantStore(e).rotate_refresh_token(first.token_hash, s, utcnow())
                for e, s in zip(engines, successors, strict=True)
            )
        )
    finally:
        for e in engines:
            await e.dispose()
    assert sorted(results) == [False, False, False, True]
    for successor, won in zip(successors, results, strict=True):
        stored = await store.get_refresh_token(successor.token_hash)
        assert stored == (successor if won else None)


async def test_revoked_families_contract(engine: AsyncEngine) -> None:
    store = SqlDenylistStore(engine)
    now = utcnow()
    live = RevokedFamily("fam-live", now + timedelta(minutes=5), now - timedelta(minutes=1))
    old = RevokedFamily("fam-old", now - timedelta(seconds=1), now - timedelta(hours=1))
    await store.add_family(live)
    await store.add_family(live)  # idempotent
    await store.add_family(old)
    assert await store.is_family_revoked("fam-live", now)
    assert not await store.is_family_revoked("fam-old", now)
    assert not await store.is_family_revoked("fam-unknown", now)
    unexpired = await store.list_unexpired_families(now)
    assert unexpired == [live]
    assert await store.list_unexpired_families(now, revoked_since=now) == []
    assert await store.delete_expired(now) == 1
    assert await store.delete_expired(now) == 0
    assert await store.is_family_revoked("fam-live", now)


async def test_a_family_and_its_first_refresh_token_are_written_together(
    engine: AsyncEngine,
) -> None:
    """Both or neither: a second family for the same code stores no refresh token."""
    store = SqlGrantStore(engine)
    _, first = refresh_token()
    await store.create_family(family(), first)
    assert await store.get_refresh_token(first.token_hash) == first
    _, second = refresh_token()
    with pytest.raises(InvalidGrant):
        await store.create_family(family(), second)
    assert await store.get_refresh_token(second.token_hash) is None


async def test_families_keep_their_sid_and_are_found_by_it(engine: AsyncEngine) -> None:
    """Back-Channel Logout 1.0: the families of one browser session, not revoked."""
    store = SqlGrantStore(engine)
    now = utcnow().replace(microsecond=0)
    session = replace(family("fam-web"), sid="sid-1", created_at=now - timedelta(minutes=1))
    await store.create_family(session)
    assert await store.get_family("fam-web") == session
    await store.create_family(replace(family("fam-api"), client_id="api", sid="sid-1"))
    await store.create_family(replace(family("fam-old"), sid="sid-1", expires_at=now))
    await store.create_family(replace(family("fam-gone"), sid="sid-1"))
    await store.revoke_family("fam-gone", "x", now)
    await store.create_family(replace(family("fam-other"), sid="sid-2"))
    await store.create_family(family("fam-device"))

    found = await store.families_of_session("sid-1")
    assert sorted(f.family_id for f in found) == ["fam-api", "fam-old", "fam-web"]
    assert [f for f in found if f.family_id == "fam-web"] == [session]
    assert [f.family_id for f in await store.families_of_session("sid-2")] == ["fam-other"]
    assert await store.families_of_session("sid-unknown") == []


async def test_migration_0005_keeps_rows_of_0004(database_url: tuple[str, str]) -> None:
    url, schema = database_url
    settings = TokenSettings(database_url=url, database_schema=schema)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR, "0004_family_resource")
    engine = create_engine(settings)
    kept = family("kept")
    try:
        async with engine.begin() as conn:
            # A row as 0004 wrote it: no sid.
            await conn.execute(
                insert(grant_families).values(
                    family_id=kept.family_id,
                    client_id=kept.client_id,
                    subject=kept.subject,
                    scope=" ".join(kept.scope),
                    auth_time=kept.auth_time,
                    amr=json.dumps(list(kept.amr)),
                    created_at=kept.created_at,
                    expires_at=kept.expires_at,
                    resource="https://api.example.com/",
                )
            )
        await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
        # The pool may hold connections that saw the old table; start afresh.
        await engine.dispose()
        loaded = await SqlGrantStore(engine).get_family("kept")
        assert loaded == replace(kept, resource="https://api.example.com/", sid="")
        async with engine.connect() as conn:
            indexes = await conn.run_sync(lambda sync: inspect(sync).get_indexes("grant_families"))
        assert {"name": "ix_grant_families_sid", "column_names": ["sid"]} in [
            {"name": index["name"], "column_names": index["column_names"]} for index in indexes
        ]
        await asyncio.to_thread(downgrade, settings, MIGRATIONS_DIR, "0004_family_resource")
        await engine.dispose()
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda sync: inspect(sync).get_columns("grant_families"))
        assert "sid" not in {column["name"] for column in columns}
    finally:
        await engine.dispose()
