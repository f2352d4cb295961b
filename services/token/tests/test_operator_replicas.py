"""What operators do, seen by every replica (docs/operators.md): not-before entries,
key rotation and token statistics through real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from common.kv import KeyValue, MemoryKeyValue, RedisKeyValue
from services.token.domain import denylist, keys
from services.token.domain.denylist import RevocationList
from services.token.domain.grants.base import TokenRequest
from services.token.domain.keys import KeyManager
from services.token.servicer import TokenDomain
from services.token.store.grants import SqlGrantStore
from services.token.store.sql import SqlDenylistStore, SqlSigningKeyStore
from services.token.tests.conftest import wire
from services.token.tests.fakes import ClientsStandIn
from services.token.tests.test_revocation_spread import wait_for_subscribers


class Replica:
    """One token process: its own KeyValue client, key manager and local sets."""

    def __init__(self, engine: AsyncEngine, kv: KeyValue, kek: bytes) -> None:
        self.kv = kv
        self.clients = ClientsStandIn()
        self.keys = KeyManager(SqlSigningKeyStore(engine), kek, kv=kv)
        self.revocations = RevocationList(SqlDenylistStore(engine), kv, max_token_ttl_seconds=3600)
        self.domain: TokenDomain = wire(
            self.keys, self.clients, self.revocations, grant_store=SqlGrantStore(engine), kv=kv
        )

    async def start(self) -> Replica:
        self.rs = await self.clients.register("rs", grant_types=(), scope=(), introspection=True)
        await self.keys.start()
        await self.keys.watch()
        await self.revocations.start()
        await self.domain.stats.start()
        return self

    async def stop(self) -> None:
        await self.keys.close()
        await self.revocations.close()
        await self.kv.close()

    async def issue(self, client_id: str = "svc") -> str:
        creds = await self.clients.register_once(client_id)
        request = TokenRequest(grant_type="client_credentials", credentials=creds)
        return (await self.domain.token_endpoint.exchange(request)).access_token

    async def active(self, token: str) -> bool:
        return (await self.domain.introspection.introspect(token, "", self.rs)).active


@pytest.fixture
async def replicas(
    shared_engine: AsyncEngine, redis_url: str, redis_prefix: str, kek: bytes
) -> AsyncIterator[tuple[Replica, Replica, str]]:
    prefix = f"{redis_prefix}{uuid.uuid4().hex[:6]}:"
    a = await Replica(shared_engine, RedisKeyValue(redis_url, prefix), kek).start()
    b = await Replica(shared_engine, RedisKeyValue(redis_url, prefix), kek).start()
    await wait_for_subscribers(redis_url, prefix + denylist.CHANNEL, 2)
    await wait_for_subscribers(redis_url, prefix + keys.CHANNEL, 2)
    yield a, b, prefix
    await a.stop()
    await b.stop()


async def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_not_before_revoked_on_a_is_seen_by_b(
    replicas: tuple[Replica, Replica, str], shared_engine: AsyncEngine, kek: bytes
) -> None:
    a, b, _ = replicas
    token, other = await a.issue("svc"), await a.issue("svc-2")
    assert await b.active(token)
    assert await a.domain.grants.revoke(client_id="svc") == 0
    # B sees it at once through the shared KeyValue, before pub/sub arrives ...
    assert not await b.active(token)
    assert await b.active(other)
    # ... and pub/sub puts it into B's local set.
    await eventually(lambda: b.revocations.not_before_known_locally("client", "svc") is not None)
    assert b.revocations.not_before_known_locally(
        "client", "svc"
    ) == a.revocations.not_before_known_locally("client", "svc")

    # A replica with an empty KeyValue learns it from the database.
    c = await Replica(shared_engine, MemoryKeyValue(), kek).start()
    try:
        assert not await c.active(token)
        assert await c.kv.exists("revoked_client:svc")
    finally:
        await c.stop()


async def test_rotation_on_a_reaches_b(replicas: tuple[Replica, Replica, str]) -> None:
    a, b, _ = replicas
    old_kid = b.keys.signing_key("ES256").kid
    old_token = await b.issue()
    rotated = await a.keys.rotate("ES256")
    await eventually(lambda: b.keys.signing_key("ES256").kid == rotated.kid)
    new_token = await b.issue()
    assert jwt.get_unverified_header(new_token)["kid"] == rotated.kid
    assert {j["kid"] for j in b.keys.jwks() if j["alg"] == "ES256"} == {old_kid, rotated.kid}
    assert await a.active(old_token) and await b.active(new_token)

    await a.keys.retire(old_kid)
    await eventually(lambda: old_kid not in {j["kid"] for j in b.keys.jwks()})
    assert not await b.active(old_token)
    assert await b.active(new_token)


async def test_token_stats_are_shared(replicas: tuple[Replica, Replica, str]) -> None:
    a, b, _ = replicas
    await a.issue()
    await a.issue()
    await b.issue()
    # Each replica adds its counts to the KeyValue in the background (every
    # FLUSH_SECONDS) and before it answers a read; b has not flushed yet.
    assert (await a.domain.stats.read()).issued_by_grant_type["client_credentials"] == 2
    await b.domain.stats.flush()
    stats_a, stats_b = await a.domain.stats.read(), await b.domain.stats.read()
    assert stats_a.issued_by_grant_type["client_credentials"] == 3
    assert stats_a == stats_b
