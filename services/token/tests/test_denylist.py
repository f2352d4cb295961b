"""The revocation list on its own: fallbacks, expiry, background sync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from common.kv import MemoryKeyValue
from common.timeutil import utcnow
from services.token.domain.denylist import RevocationList, revoked_key
from services.token.tests.fakes import MemoryDenylistStore


class BrokenKeyValue(MemoryKeyValue):
    """Redis is down: every call fails."""

    async def exists(self, key: str) -> bool:
        raise ConnectionError("redis down")

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        raise ConnectionError("redis down")

    async def subscribe(self, channel: str) -> AsyncIterator[str]:
        raise ConnectionError("redis down")
        yield ""  # pragma: no cover - makes this an async generator


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


async def test_redis_down_falls_back_to_the_database() -> None:
    store = MemoryDenylistStore()
    writer = RevocationList(store, BrokenKeyValue(), max_token_ttl_seconds=3600)
    await writer.revoke("jti-1", "svc", utcnow() + timedelta(minutes=5))
    assert "jti-1" in store.entries  # durable even though Redis failed
    reader = RevocationList(store, BrokenKeyValue(), max_token_ttl_seconds=3600)
    assert await reader.is_revoked("jti-1")
    assert not await reader.is_revoked("jti-2")


async def test_expired_entries_leave_the_local_set_and_the_store() -> None:
    store = MemoryDenylistStore()
    kv = MemoryKeyValue()
    clock = Clock()
    revocations = RevocationList(
        store, kv, max_token_ttl_seconds=3600, sync_interval=0.01, clock=clock
    )
    await revocations.revoke("jti-1", "svc", clock.now + timedelta(seconds=30))
    assert await revocations.is_revoked("jti-1")
    await revocations.start()
    try:
        clock.now += timedelta(seconds=31)
        for _ in range(100):
            if not store.entries and not revocations.known_locally("jti-1"):
                break
            await asyncio.sleep(0.01)
        assert store.entries == {}
        assert not revocations.known_locally("jti-1")
    finally:
        await revocations.close()


async def test_revoking_an_expired_token_records_nothing() -> None:
    store = MemoryDenylistStore()
    revocations = RevocationList(store, MemoryKeyValue(), max_token_ttl_seconds=3600)
    await revocations.revoke("jti-1", "svc", utcnow() - timedelta(seconds=1))
    assert store.entries == {}


async def test_subscriber_adds_published_jtis_with_their_expiry() -> None:
    kv = MemoryKeyValue()
    a = RevocationList(MemoryDenylistStore(), kv, max_token_ttl_seconds=3600)
    b = RevocationList(MemoryDenylistStore(), kv, max_token_ttl_seconds=3600)
    await b.start()
    try:
        await asyncio.sleep(0)  # let the subscriber subscribe
        exp = utcnow() + timedelta(minutes=5)
        await a.revoke("jti-1", "svc", exp)
        assert await kv.get(revoked_key("jti-1")) == str(int(exp.timestamp()) + 1).encode()
        for _ in range(100):
            if b.known_locally("jti-1"):
                break
            await asyncio.sleep(0.01)
        assert b.known_locally("jti-1")
        assert await b.is_revoked("jti-1")
    finally:
        await b.close()
