"""Counting issued tokens costs the token path no KeyValue round trip."""

from __future__ import annotations

from datetime import datetime

from common.kv import MemoryKeyValue
from services.token.domain.stats import TokenStats


class CountingKeyValue(MemoryKeyValue):
    def __init__(self) -> None:
        super().__init__()
        self.incr_calls = 0

    async def incr(self, key: str, ttl: float | None = None, amount: int = 1) -> int:
        self.incr_calls += 1
        return await super().incr(key, ttl, amount)


class NoFamilies:
    async def count_active_families(self, now: datetime) -> int:
        return 0


async def test_issuing_only_counts_locally_until_a_flush() -> None:
    kv = CountingKeyValue()
    stats = TokenStats(kv, NoFamilies(), ["client_credentials", "refresh_token"])  # type: ignore[arg-type]
    await stats.start()
    for _ in range(100):
        stats.record_issued("client_credentials")
    stats.record_issued("refresh_token")
    assert kv.incr_calls == 0
    read = await stats.read()  # a read flushes first: one INCRBY per grant type
    assert read.issued_by_grant_type == {"client_credentials": 100, "refresh_token": 1}
    assert kv.incr_calls == 2
    await stats.close()


async def test_a_failed_flush_keeps_the_counts() -> None:
    class Broken(CountingKeyValue):
        fail = True

        async def incr(self, key: str, ttl: float | None = None, amount: int = 1) -> int:
            if self.fail:
                raise ConnectionError("redis is down")
            return await super().incr(key, ttl, amount)

    kv = Broken()
    stats = TokenStats(kv, NoFamilies(), ["client_credentials"])  # type: ignore[arg-type]
    stats.record_issued("client_credentials")
    await stats.flush()
    kv.fail = False
    assert (await stats.read()).issued_by_grant_type == {"client_credentials": 1}
