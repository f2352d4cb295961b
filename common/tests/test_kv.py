"""One contract for the Redis client and its in-process stand-in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from common.kv import KeyValue, MemoryKeyValue, RedisKeyValue


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KeyValue]:
    if request.param == "memory":
        store: KeyValue = MemoryKeyValue()
    else:
        url = request.getfixturevalue("redis_url")
        store = RedisKeyValue(url, request.getfixturevalue("redis_prefix") + "kv:")
    yield store
    await store.close()


async def test_set_get_delete(kv: KeyValue) -> None:
    assert await kv.get("a") is None
    await kv.set("a", "1")
    assert await kv.get("a") == b"1"
    assert await kv.exists("a")
    assert await kv.delete("a", "missing") == 1
    assert not await kv.exists("a")


async def test_expiry(kv: KeyValue) -> None:
    await kv.set("short", b"x", ttl=0.05)
    assert await kv.get("short") == b"x"
    await asyncio.sleep(0.15)
    assert await kv.get("short") is None


async def test_set_if_absent_and_incr(kv: KeyValue) -> None:
    assert await kv.set_if_absent("once", "1", ttl=5)
    assert not await kv.set_if_absent("once", "2", ttl=5)
    assert await kv.get("once") == b"1"
    assert await kv.incr("n", ttl=5) == 1
    assert await kv.incr("n", ttl=5) == 2
    await kv.delete("once", "n")


async def test_publish_reaches_subscribers(kv: KeyValue) -> None:
    received: list[str] = []
    ready = asyncio.Event()

    async def listen() -> None:
        stream = kv.subscribe("chan")
        ready.set()
        async for message in stream:
            received.append(message)
            if len(received) == 2:
                return

    task = asyncio.create_task(listen())
    await ready.wait()
    for _ in range(50):  # the subscription is set up when the generator first runs
        await kv.publish("chan", "one")
        await asyncio.sleep(0.02)
        if received:
            break
    await kv.publish("chan", "two")
    await asyncio.wait_for(task, 5)
    assert received[-1] == "two"
    assert await kv.ping()


async def test_follow_channel_resubscribes_and_reports_the_gap() -> None:
    from common.kv import follow_channel

    class FlakyKeyValue(MemoryKeyValue):
        def __init__(self) -> None:
            super().__init__()
            self.subscriptions = 0

        async def subscribe(self, channel: str) -> AsyncIterator[str]:
            self.subscriptions += 1
            if self.subscriptions == 1:
                raise ConnectionError("redis went away")
            async for message in super().subscribe(channel):
                yield message

    kv = FlakyKeyValue()
    seen: list[str] = []
    gaps: list[int] = []

    async def on_gap() -> None:
        gaps.append(kv.subscriptions)

    async def on_message(message: str) -> None:
        seen.append(message)

    task = asyncio.create_task(
        follow_channel(kv, "chan", on_message, on_gap, resubscribe_delay=0.01)
    )
    for _ in range(200):
        await kv.publish("chan", "hello")
        await asyncio.sleep(0.01)
        if seen:
            break
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert gaps == [1] and kv.subscriptions == 2
    assert seen and seen[0] == "hello"
