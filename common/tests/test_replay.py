"""ReplayCache: a jti is good once per issuer, and an unreachable store refuses."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from common.errors import TemporarilyUnavailable
from common.kv import MemoryKeyValue
from common.replay import ReplayCache


async def test_first_use_only() -> None:
    replays = ReplayCache(MemoryKeyValue(), "test")
    assert await replays.first_use("client-a", "jti-1", remember_seconds=60)
    assert not await replays.first_use("client-a", "jti-1", remember_seconds=60)
    # Another issuer's jti of the same value is another JWT.
    assert await replays.first_use("client-b", "jti-1", remember_seconds=60)


class Down(MemoryKeyValue):
    async def set_if_absent(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        raise RedisConnectionError("down")


async def test_an_unreachable_store_refuses() -> None:
    with pytest.raises(TemporarilyUnavailable):
        await ReplayCache(Down(), "test").first_use("client-a", "jti", remember_seconds=60)
