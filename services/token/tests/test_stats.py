"""Counting issued tokens costs the token path no KeyValue round trip."""

from __future__ import annotations

from datetime import datetime

import pytest

from common.errors import TemporarilyUnavailable
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


async def test_a_key_value_that_fails_costs_one_call() -> None:
    """Redis down or hung: one failed INCRBY per flush however many grant types
    wait, and a read answers temporarily_unavailable without calling it again."""

    class Hung(CountingKeyValue):
        hung = True

        async def incr(self, key: str, ttl: float | None = None, amount: int = 1) -> int:
            if self.hung:
                self.incr_calls += 1
                raise TimeoutError("redis does not answer")
            return await super().incr(key, ttl, amount)

        async def get(self, key: str) -> bytes | None:
            assert not self.hung, "read after a failed flush"
            return await super().get(key)

    kv = Hung()
    grant_types = ["client_credentials", "refresh_token", "authorization_code"]
    stats = TokenStats(kv, NoFamilies(), grant_types)  # type: ignore[arg-type]
    for grant_type in grant_types:
        stats.record_issued(grant_type)
    assert await stats.flush() is False
    assert kv.incr_calls == 1
    with pytest.raises(TemporarilyUnavailable):
        await stats.read()
    assert kv.incr_calls == 2
    # Nothing was lost: the counts wait for the next flush.
    kv.hung = False
    assert (await stats.read()).issued_by_grant_type == dict.fromkeys(grant_types, 1)
