"""Store contract tests, run against SQLite and PostgreSQL (Hydra style)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, timedelta

import asyncpg
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from common.migrations import upgrade
from common.timeutil import utcnow
from services.token import MIGRATIONS_DIR
from services.token.domain.jwk import generate_private_key, public_jwk
from services.token.domain.keys import KeyDecryptionError, KeyManager, encrypt_private_key
from services.token.domain.ports import RevokedToken, StoredSigningKey
from services.token.settings import TokenSettings
from services.token.store.sql import SqlDenylistStore, SqlSigningKeyStore
from services.token.store.tables import signing_keys


async def migrated(url: str, schema: str) -> TokenSettings:
    settings = TokenSettings(database_url=url, database_schema=schema)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
    return settings


@pytest.fixture
async def engine(database_url: tuple[str, str]) -> AsyncIterator[AsyncEngine]:
    settings = await migrated(*database_url)
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


def new_key(kek: bytes, alg: str = "ES256", status: str = "active") -> StoredSigningKey:
    private = generate_private_key(alg)
    jwk = public_jwk(private.public_key(), alg)
    return StoredSigningKey(
        kid=jwk["kid"],
        alg=alg,
        status=status,
        public_jwk=jwk,
        private_key_enc=encrypt_private_key(kek, jwk["kid"], private),
        created_at=utcnow(),
    )


async def test_signing_key_store_contract(engine: AsyncEngine, kek: bytes) -> None:
    store = SqlSigningKeyStore(engine)
    assert await store.list_keys() == []
    assert await store.active_key("ES256") is None
    key = new_key(kek)
    assert await store.add_active_key(key) == key
    # A second candidate loses to the active key already there.
    assert await store.add_active_key(new_key(kek)) == key
    assert await store.active_key("ES256") == key
    assert await store.active_key("RS256") is None
    assert await store.get_key(key.kid) == key
    assert await store.get_key("missing") is None
    loaded = await store.list_keys()
    assert loaded == [key]
    assert loaded[0].created_at.tzinfo is not None
    assert loaded[0].created_at.utcoffset() == timedelta(0)


async def test_one_active_key_per_alg_is_a_constraint(engine: AsyncEngine, kek: bytes) -> None:
    first, second = new_key(kek), new_key(kek)
    await SqlSigningKeyStore(engine).add_active_key(first)
    row = {
        "kid": second.kid,
        "alg": "ES256",
        "status": "active",
        "public_jwk": "{}",
        "private_key_enc": second.private_key_enc,
        "created_at": second.created_at,
    }
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(signing_keys).values(**row))
    async with engine.begin() as conn:
        await conn.execute(insert(signing_keys).values(**{**row, "status": "previous"}))


async def test_private_keys_are_encrypted_at_rest(engine: AsyncEngine, kek: bytes) -> None:
    keys = KeyManager(SqlSigningKeyStore(engine), kek)
    await keys.start()
    async with engine.connect() as conn:
        rows = (await conn.execute(select(signing_keys))).all()
    assert sorted(row.alg for row in rows) == ["ES256", "RS256"]
    for row in rows:
        blob = bytes(row.private_key_enc)
        assert b"PRIVATE KEY" not in blob and b"-----" not in blob
        assert row.kid.encode() not in blob
    # A second replica with the same KEK loads the same keys; another KEK fails clearly.
    again = KeyManager(SqlSigningKeyStore(engine), kek)
    await again.start()
    assert again.jwks() == keys.jwks()
    with pytest.raises(KeyDecryptionError, match="'key_encryption_key' is not the key"):
        await KeyManager(SqlSigningKeyStore(engine), os.urandom(32)).start()


async def test_denylist_store_contract(engine: AsyncEngine) -> None:
    store = SqlDenylistStore(engine)
    now = utcnow()
    live = RevokedToken("jti-live", "svc", now + timedelta(minutes=5), now - timedelta(minutes=1))
    old = RevokedToken("jti-old", "svc", now - timedelta(seconds=1), now - timedelta(hours=1))
    await store.add(live)
    await store.add(live)  # idempotent
    await store.add(old)
    assert await store.is_revoked("jti-live", now)
    assert not await store.is_revoked("jti-old", now)
    assert not await store.is_revoked("jti-unknown", now)
    unexpired = await store.list_unexpired(now)
    assert [e.jti for e in unexpired] == ["jti-live"]
    assert unexpired[0].expires_at.tzinfo == UTC
    assert unexpired[0].expires_at == live.expires_at
    assert await store.list_unexpired(now, revoked_since=now) == []
    assert len(await store.list_unexpired(now, revoked_since=now - timedelta(minutes=2))) == 1
    assert await store.delete_expired(now) == 1
    assert await store.delete_expired(now) == 0
    assert await store.is_revoked("jti-live", now)


@pytest.fixture
async def pg_schema(pg_url: str) -> AsyncIterator[tuple[str, str]]:
    schema = f"s_{uuid.uuid4().hex[:10]}"
    yield "postgresql+asyncpg://" + pg_url.split("://", 1)[1], schema
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def test_replicas_starting_at_once_create_one_key_per_alg(
    pg_schema: tuple[str, str], kek: bytes
) -> None:
    settings = await migrated(*pg_schema)
    engines = [create_engine(settings) for _ in range(4)]
    try:
        managers = [KeyManager(SqlSigningKeyStore(e), kek) for e in engines]
        await asyncio.gather(*(m.start() for m in managers))
        async with engines[0].connect() as conn:
            rows = (await conn.execute(select(signing_keys))).all()
        assert sorted((row.alg, row.status) for row in rows) == [
            ("ES256", "active"),
            ("RS256", "active"),
        ]
        assert all(m.jwks() == managers[0].jwks() for m in managers)
    finally:
        for e in engines:
            await e.dispose()
