"""Revocation seen by every replica: shared Redis and database, pub/sub to local sets."""

from __future__ import annotations

import asyncio
import uuid

import jwt
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from common.kv import KeyValue, MemoryKeyValue, RedisKeyValue
from services.token.domain.denylist import CHANNEL, RevocationList
from services.token.domain.grants.base import TokenRequest
from services.token.domain.keys import KeyManager
from services.token.servicer import TokenDomain
from services.token.store.sql import SqlDenylistStore, SqlSigningKeyStore
from services.token.tests.conftest import wire
from services.token.tests.fakes import ClientsStandIn


class Replica:
    def __init__(self, engine: AsyncEngine, kv: KeyValue, kek: bytes) -> None:
        self.kv = kv
        self.clients = ClientsStandIn()
        self.keys = KeyManager(SqlSigningKeyStore(engine), kek)
        self.revocations = RevocationList(SqlDenylistStore(engine), kv, max_token_ttl_seconds=3600)
        self.domain: TokenDomain = wire(self.keys, self.clients, self.revocations)

    async def start(self) -> Replica:
        self.svc = await self.clients.register("svc")
        self.rs = await self.clients.register("rs", grant_types=(), scope=(), introspection=True)
        await self.keys.start()
        await self.revocations.start()
        return self

    async def stop(self) -> None:
        await self.revocations.close()
        await self.kv.close()

    async def issue(self) -> str:
        creds = self.svc
        request = TokenRequest(grant_type="client_credentials", credentials=creds)
        return (await self.domain.token_endpoint.exchange(request)).access_token

    async def active(self, token: str) -> bool:
        return (await self.domain.introspection.introspect(token, "", self.rs)).active

    async def revoke(self, token: str) -> None:
        await self.domain.revocation.revoke(token, "", self.svc)


async def wait_for_subscribers(redis_url: str, channel: str, count: int) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        for _ in range(200):
            numsub = dict(await client.pubsub_numsub(channel))
            if numsub.get(channel.encode(), 0) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{count} subscribers never joined {channel}")
    finally:
        await client.aclose()


async def test_revoked_on_a_is_inactive_on_b(
    shared_engine: AsyncEngine, redis_url: str, redis_prefix: str, kek: bytes
) -> None:
    prefix = f"{redis_prefix}{uuid.uuid4().hex[:6]}:"
    a = await Replica(shared_engine, RedisKeyValue(redis_url, prefix), kek).start()
    b = await Replica(shared_engine, RedisKeyValue(redis_url, prefix), kek).start()
    try:
        await wait_for_subscribers(redis_url, prefix + CHANNEL, 2)
        token = await a.issue()
        assert await b.active(token)
        await a.revoke(token)
        assert not await a.active(token)
        # B sees it at once, through the shared KeyValue, even before pub/sub arrives.
        assert not await b.active(token)
        # And pub/sub puts it into B's local set.
        claims_jti = token_jti(token)
        for _ in range(200):
            if b.revocations.known_locally(claims_jti):
                break
            await asyncio.sleep(0.01)
        assert b.revocations.known_locally(claims_jti)

        # A replica started later with an empty KeyValue (Redis flushed, or the embedded
        # stand-in restarted) learns the revocation from the database.
        c = await Replica(shared_engine, MemoryKeyValue(), kek).start()
        try:
            assert not await c.active(token)
            assert await c.kv.exists(f"revoked:{claims_jti}")
        finally:
            await c.stop()
    finally:
        await a.stop()
        await b.stop()


def token_jti(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])
