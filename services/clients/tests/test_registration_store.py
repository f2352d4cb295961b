"""Registration storage on SQLite and PostgreSQL: migration 0002, the registration
access token column, the InitialAccessTokenStore contract, and concurrent use of a
single-use initial access token."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from common.errors import InvalidToken
from common.kv import MemoryKeyValue
from common.migrations import downgrade, upgrade
from services.clients.app import MIGRATIONS_DIR, build_registration, build_registry
from services.clients.domain import ClientMetadata, InitialAccessToken
from services.clients.settings import ClientsSettings
from services.clients.store.sql import SqlClientStore, SqlInitialAccessTokenStore
from services.clients.store.tables import clients
from services.clients.tests.conftest import settings_for
from services.clients.tests.test_store_contract import T0, make_client


@pytest.fixture
def tokens(engine: AsyncEngine) -> SqlInitialAccessTokenStore:
    return SqlInitialAccessTokenStore(engine)


def iat(token_hash: str, *, max_uses: int = 1, ttl: float = 3600) -> InitialAccessToken:
    return InitialAccessToken(
        token_hash=token_hash,
        created_at=T0,
        expires_at=T0 + timedelta(seconds=ttl),
        max_uses=max_uses,
    )


async def test_registration_access_token_hash_round_trip(sql_store: SqlClientStore) -> None:
    client = make_client(
        "self-made", dynamically_registered=True, registration_access_token_hash="cd" * 32
    )
    await sql_store.create(client)
    assert await sql_store.get("self-made") == client
    await sql_store.update(
        make_client(
            "self-made",
            "renamed",
            dynamically_registered=True,
            revision=2,
            registration_access_token_hash="cd" * 32,
        ),
        expected_revision=1,
    )
    loaded = await sql_store.get("self-made")
    assert loaded is not None and loaded.registration_access_token_hash == "cd" * 32


async def test_initial_access_token_round_trip(tokens: SqlInitialAccessTokenStore) -> None:
    token = iat("ab" * 32, max_uses=3)
    await tokens.create(token)
    assert await tokens.get("ab" * 32) == token
    assert await tokens.get("00" * 32) is None


async def test_consume_counts_uses_and_respects_expiry(tokens: SqlInitialAccessTokenStore) -> None:
    await tokens.create(iat("a1" * 32, max_uses=2, ttl=60))
    assert await tokens.consume("a1" * 32, now=T0)
    assert await tokens.consume("a1" * 32, now=T0 + timedelta(seconds=59))
    assert not await tokens.consume("a1" * 32, now=T0)  # used up
    stored = await tokens.get("a1" * 32)
    assert stored is not None and stored.uses == 2

    await tokens.create(iat("a2" * 32, max_uses=5, ttl=60))
    assert not await tokens.consume("a2" * 32, now=T0 + timedelta(seconds=60))  # expired
    assert not await tokens.consume("ff" * 32, now=T0)  # unknown


async def test_delete_expired(tokens: SqlInitialAccessTokenStore) -> None:
    await tokens.create(iat("b1" * 32, ttl=10))
    await tokens.create(iat("b2" * 32, ttl=100))
    assert await tokens.delete_expired(now=T0 + timedelta(seconds=10)) == 1
    assert await tokens.get("b1" * 32) is None and await tokens.get("b2" * 32) is not None


async def test_concurrent_consume_of_a_single_use_token(
    tokens: SqlInitialAccessTokenStore,
) -> None:
    await tokens.create(iat("c1" * 32, max_uses=1))
    results = await asyncio.gather(*(tokens.consume("c1" * 32, now=T0) for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]


async def test_concurrent_registrations_with_a_single_use_token(
    database_url: tuple[str, str], engine: AsyncEngine
) -> None:
    """Exactly one of several registrations racing on one token wins (real SQL)."""
    url, schema = database_url
    settings = ClientsSettings(database_url=url, database_schema=schema, registration_mode="token")
    registry = build_registry(settings, engine, MemoryKeyValue())
    registration = build_registration(settings, engine, registry)
    plain, _ = await registration.create_initial_access_token()
    metadata = ClientMetadata(grant_types=("client_credentials",), scope="openid")
    results = await asyncio.gather(
        *(registration.register(metadata, initial_access_token=plain) for _ in range(6)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and all(isinstance(r, InvalidToken) for r in losers)
    listed, total = await SqlClientStore(engine).list(after=None, limit=10, search="")
    assert total == 1 and listed[0].client_id == winners[0].client.client_id


async def test_migration_0002_keeps_existing_clients(database_url: tuple[str, str]) -> None:
    settings = settings_for(*database_url)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR, "0001")
    engine = create_engine(settings)
    try:
        row = {
            "client_id": "old",
            "client_name": "old",
            "redirect_uris": [],
            "grant_types": ["client_credentials"],
            "response_types": [],
            "scope": "",
            "token_endpoint_auth_method": "client_secret_basic",
            "require_pkce": True,
            "post_logout_redirect_uris": [],
            "access_token_signing_alg": "",
            "always_issue_refresh_token": False,
            "contacts": [],
            "client_uri": "",
            "logo_uri": "",
            "client_secret_hash": None,
            "client_secret_expires_at": None,
            "dynamically_registered": False,
            "revision": 1,
            "created_at": datetime(2025, 1, 1, tzinfo=UTC),
            "updated_at": datetime(2025, 1, 1, tzinfo=UTC),
        }
        async with engine.begin() as conn:
            await conn.execute(insert(clients).values(row))
        await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
        loaded = await SqlClientStore(engine).get("old")
        assert loaded is not None and loaded.registration_access_token_hash is None
        await SqlInitialAccessTokenStore(engine).create(iat("d1" * 32))
        # And back down, for operators who roll back.
        await asyncio.to_thread(downgrade, settings, MIGRATIONS_DIR, "0001")
        await asyncio.to_thread(upgrade, settings, MIGRATIONS_DIR)
        assert await SqlClientStore(engine).get("old") is not None
    finally:
        await engine.dispose()
