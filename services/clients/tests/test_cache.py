"""CachedClientStore: repeated lookups skip the database; writes invalidate."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from common.client_generation import CHANGES_CHANNEL, generation_key
from common.db import create_engine
from common.errors import InvalidClient, TemporarilyUnavailable
from common.kv import KeyValue, MemoryKeyValue, RedisKeyValue
from services.clients.domain import ClientMetadata, ClientRegistry
from services.clients.settings import ClientsSettings
from services.clients.store.cache import CachedClientStore, decode_client, encode_client
from services.clients.store.sql import SqlClientStore
from services.clients.tests.fakes import CountingStore, MemoryClientStore

BACKEND = ClientMetadata(client_name="backend", scope="read")


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KeyValue]:
    if request.param == "memory":
        yield MemoryKeyValue()
        return
    redis_url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    store = RedisKeyValue(redis_url, prefix + f"{id(request)}:")
    yield store
    await store.close()


async def exercise_cache(inner: CountingStore, kv: KeyValue) -> None:
    """The whole invalidation story through the registry, as the token path sees it."""
    registry = ClientRegistry(CachedClientStore(inner, kv, ttl=60))
    client, secret = await registry.create(BACKEND)
    cid = client.client_id

    for _ in range(5):
        await registry.authenticate(cid, secret, "client_secret_basic")
    assert inner.calls["get"] == 1  # the first lookup filled the cache

    # update: the next lookup sees the new metadata
    await registry.update(cid, ClientMetadata(scope="read write"), ["scope"])
    assert (await registry.authenticate(cid, secret, "client_secret_basic")).scope == "read write"
    before = inner.calls["get"]
    await registry.get(cid)
    assert inner.calls["get"] == before  # cached again

    # rotate: the old secret stops working at once, the new one works
    _, new_secret = await registry.rotate_secret(cid)
    with pytest.raises(InvalidClient):
        await registry.authenticate(cid, secret, "client_secret_basic")
    assert await registry.authenticate(cid, new_secret, "client_secret_basic")

    # delete: the client is gone at once
    await registry.delete(cid)
    with pytest.raises(InvalidClient):
        await registry.authenticate(cid, new_secret, "client_secret_basic")


async def test_cache_over_a_counting_fake(kv: KeyValue) -> None:
    await exercise_cache(CountingStore(MemoryClientStore()), kv)


async def test_cache_over_the_sql_store(sql_store: SqlClientStore, kv: KeyValue) -> None:
    await exercise_cache(CountingStore(sql_store), kv)


async def test_cached_record_is_served_without_the_database(
    sql_store: SqlClientStore, kv: KeyValue
) -> None:
    cached = CachedClientStore(sql_store, kv, ttl=60)
    registry = ClientRegistry(cached)
    client, _ = await registry.create(BACKEND)
    assert await cached.get(client.client_id) == client
    # A change behind the cache's back (no invalidation) is not seen: proof
    # that the second read came from the KeyValue, not the database.
    await sql_store.delete(client.client_id)
    assert await cached.get(client.client_id) == client
    await kv.delete(CachedClientStore.key(client.client_id))
    assert await cached.get(client.client_id) is None


async def test_entries_expire_with_the_ttl() -> None:
    inner = CountingStore(MemoryClientStore())
    registry = ClientRegistry(CachedClientStore(inner, MemoryKeyValue(), ttl=0.05))
    client, _ = await registry.create(BACKEND)
    await registry.get(client.client_id)
    await registry.get(client.client_id)
    assert inner.calls["get"] == 1
    await asyncio.sleep(0.06)
    await registry.get(client.client_id)
    assert inner.calls["get"] == 2


async def test_misses_are_not_cached() -> None:
    inner = CountingStore(MemoryClientStore())
    cached = CachedClientStore(inner, MemoryKeyValue(), ttl=60)
    assert await cached.get("later") is None
    client, _ = await ClientRegistry(cached).create(BACKEND, client_id="later")
    assert await cached.get("later") == client


class BrokenKeyValue(MemoryKeyValue):
    """Redis down: every call fails, and is counted."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def get(self, key: str) -> bytes | None:
        self.calls.append("get")
        raise ConnectionError("redis is down")

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        self.calls.append("set")
        raise ConnectionError("redis is down")

    async def delete(self, *keys: str) -> int:
        self.calls.append("delete")
        raise ConnectionError("redis is down")


async def test_a_broken_cache_falls_back_to_the_store() -> None:
    inner = CountingStore(MemoryClientStore())
    kv = BrokenKeyValue()
    registry = ClientRegistry(CachedClientStore(inner, kv, ttl=60))
    client, secret = await registry.create(BACKEND)
    assert await registry.authenticate(client.client_id, secret, "client_secret_basic")
    assert inner.calls["get"] == 1
    # One failed cache call per lookup: nothing is written back to a cache that failed.
    assert kv.calls == ["get"]


async def test_no_change_while_the_cache_cannot_be_cleared() -> None:
    """A change the cache would hide (a new secret, a disabled or deleted client)
    is refused, and nothing is written: the client is as it was."""
    inner = MemoryClientStore()
    registry = ClientRegistry(CachedClientStore(inner, BrokenKeyValue(), ttl=60))
    client, secret = await registry.create(BACKEND)
    with pytest.raises(TemporarilyUnavailable):
        await registry.update(client.client_id, ClientMetadata(client_name="x"), ["client_name"])
    with pytest.raises(TemporarilyUnavailable):
        await registry.rotate_secret(client.client_id)
    with pytest.raises(TemporarilyUnavailable):
        await registry.delete(client.client_id)
    assert await inner.get(client.client_id) == client
    assert await registry.authenticate(client.client_id, secret, "client_secret_basic")


async def test_garbage_in_the_cache_is_a_miss() -> None:
    kv = MemoryKeyValue()
    inner = CountingStore(MemoryClientStore())
    cached = CachedClientStore(inner, kv, ttl=60)
    client, _ = await ClientRegistry(cached).create(BACKEND, client_id="g")
    await kv.set(CachedClientStore.key("g"), b"{not json")
    assert await cached.get("g") == client


async def test_encoding_round_trips() -> None:
    client, _ = await ClientRegistry(MemoryClientStore()).create(
        ClientMetadata(redirect_uris=("https://a.example/cb",), contacts=("a@b.example",))
    )
    assert decode_client(encode_client(client)) == client


async def test_unreachable_database_is_temporarily_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    engine = create_engine(ClientsSettings(database_url=url))
    try:
        with pytest.raises(TemporarilyUnavailable):
            await SqlClientStore(engine).get("anything")
    finally:
        await engine.dispose()


async def test_every_change_writes_a_new_generation_and_announces_it(kv: KeyValue) -> None:
    """The token service's cache of authentications is strict only if every change of
    a client leaves a generation it has never seen (common.client_generation)."""
    registry = ClientRegistry(CachedClientStore(MemoryClientStore(), kv, ttl=60))
    client, _ = await registry.create(BACKEND)
    cid = client.client_id
    key = generation_key(cid)
    seen = {await kv.get(key)}
    messages = kv.subscribe(CHANGES_CHANNEL)
    first = asyncio.ensure_future(anext(messages))
    # Let the subscription start; Redis has it long before the last of the changes'
    # dozen round trips, and each change announces the same client_id.
    await asyncio.sleep(0)

    async def assert_new_generation() -> None:
        generation = await kv.get(key)
        assert generation is not None and generation not in seen
        seen.add(generation)

    await registry.update(cid, ClientMetadata(scope="read write"), ["scope"])
    await assert_new_generation()
    await registry.update(cid, ClientMetadata(enabled=False), ["enabled"])
    await assert_new_generation()
    await registry.update(cid, ClientMetadata(enabled=True), ["enabled"])
    await assert_new_generation()
    await registry.rotate_secret(cid)
    await assert_new_generation()
    await registry.delete(cid)
    await assert_new_generation()
    assert await asyncio.wait_for(first, 5) == cid
    assert isinstance(messages, AsyncGenerator)
    await messages.aclose()
