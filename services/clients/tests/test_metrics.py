"""Clients service metrics: client cache hits and misses."""

from __future__ import annotations

from prometheus_client import REGISTRY

from common.kv import MemoryKeyValue
from services.clients.domain import ClientMetadata, ClientRegistry
from services.clients.store.cache import CachedClientStore
from services.clients.tests.fakes import CountingStore, MemoryClientStore


def lookups(result: str) -> float:
    value = REGISTRY.get_sample_value("oauth2_client_cache_lookups_total", {"result": result})
    return value or 0.0


async def test_cache_hits_and_misses_are_counted() -> None:
    registry = ClientRegistry(
        CachedClientStore(CountingStore(MemoryClientStore()), MemoryKeyValue(), ttl=60)
    )
    client, _ = await registry.create(ClientMetadata(client_name="backend", scope="read"))
    hits, misses = lookups("hit"), lookups("miss")
    for _ in range(3):
        await registry.get(client.client_id)
    assert lookups("miss") - misses == 1
    assert lookups("hit") - hits == 2
