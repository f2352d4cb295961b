"""One contract for the Redis client and its in-process stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from common.deadline import budget
from common.kv import UNREACHABLE_PAUSE_SECONDS, Cell, KeyValue, MemoryKeyValue, RedisKeyValue
from conftest import start_redis
from oauth2ctl.devrun import free_port


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


async def test_take_gives_a_value_once(kv: KeyValue) -> None:
    key = f"take:{uuid.uuid4().hex}"
    assert await kv.take(key) is None
    await kv.set(key, "once", ttl=5)
    first, second = await asyncio.gather(kv.take(key), kv.take(key))
    assert sorted([first, second], key=lambda v: v is None) == [b"once", None]
    assert not await kv.exists(key)
    await kv.set(key, "brief", ttl=0.05)
    await asyncio.sleep(0.1)
    assert await kv.take(key) is None


async def gcra(
    kv: KeyValue, key: str, rate_per_second: float, burst: int, cost: int = 1
) -> tuple[bool, float]:
    """One limit through gcra_all: (admitted, seconds until it would be)."""
    refused, wait = await kv.gcra_all((Cell(key, rate_per_second, burst, cost),))
    return refused is None, wait


async def test_gcra_admits_the_burst_then_refuses_with_the_wait(kv: KeyValue) -> None:
    key = f"gcra:{uuid.uuid4().hex}"
    # 10 per second sustained (one every 0.1 s), bursts of 5.
    for _ in range(5):
        assert await gcra(kv, key, 10, 5) == (True, 0.0)
    admitted, retry_after = await gcra(kv, key, 10, 5)
    assert not admitted
    # The next one is due one emission interval after the burst began.
    assert 0.05 < retry_after <= 0.1
    # A refusal costs nothing: asking again says the same.
    again, second_wait = await gcra(kv, key, 10, 5)
    assert not again and second_wait <= retry_after
    await asyncio.sleep(retry_after + 0.02)
    assert (await gcra(kv, key, 10, 5))[0]
    assert not (await gcra(kv, key, 10, 5))[0]


async def test_gcra_recovers_the_whole_burst_and_expires(kv: KeyValue) -> None:
    key = f"gcra:{uuid.uuid4().hex}"
    for _ in range(3):
        assert (await gcra(kv, key, 20, 3))[0]
    assert not (await gcra(kv, key, 20, 3))[0]
    # After burst / rate seconds the bucket is full again and the key is gone.
    await asyncio.sleep(3 / 20 + 0.05)
    assert not await kv.exists(key)
    for _ in range(3):
        assert (await gcra(kv, key, 20, 3))[0]
    assert not (await gcra(kv, key, 20, 3))[0]


async def test_gcra_cost_and_keys_apart(kv: KeyValue) -> None:
    key = f"gcra:{uuid.uuid4().hex}"
    assert (await gcra(kv, key, 1, 10, cost=10))[0]
    admitted, retry_after = await gcra(kv, key, 1, 10, cost=2)
    assert not admitted and 1.5 < retry_after <= 2.0
    # Another key has a bucket of its own.
    assert (await gcra(kv, key + ":other", 1, 10))[0]


async def test_gcra_all_applies_the_limits_in_order_and_stops_at_the_first_refusal(
    kv: KeyValue,
) -> None:
    wide, narrow = f"gcra:{uuid.uuid4().hex}:wide", f"gcra:{uuid.uuid4().hex}:narrow"
    cells = [Cell(wide, 1, 3), Cell(narrow, 1, 2)]
    assert await kv.gcra_all(cells) == (None, 0.0)
    assert await kv.gcra_all(cells) == (None, 0.0)
    # The narrow limit refuses the third request; the wide one counted it.
    refused, wait = await kv.gcra_all(cells)
    assert refused == 1 and 0.5 < wait <= 1.0
    # Now the wide one is full too and refuses first: the narrow one is not counted,
    # so alone it refuses with the same wait as before, not a longer one.
    refused, _ = await kv.gcra_all(cells)
    assert refused == 0
    admitted, narrow_wait = await gcra(kv, narrow, 1, 2)
    assert not admitted and narrow_wait <= wait
    # A refused limit never counts the request either: a limit listed after it
    # whose bucket is empty is untouched.
    fresh = f"gcra:{uuid.uuid4().hex}:fresh"
    assert (await kv.gcra_all([Cell(wide, 1, 3), Cell(fresh, 1, 1)]))[0] == 0
    assert await gcra(kv, fresh, 1, 1) == (True, 0.0)


async def test_gcra_is_atomic_under_concurrency(kv: KeyValue) -> None:
    key = f"gcra:{uuid.uuid4().hex}"
    # A slow rate, so nothing refills while the 50 calls race.
    results = await asyncio.gather(*(gcra(kv, key, 0.01, 10) for _ in range(50)))
    assert sum(admitted for admitted, _ in results) == 10
    assert all(retry_after > 0 for admitted, retry_after in results if not admitted)


async def test_gcra_on_redis_applies_the_prefix(redis_url: str, redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    prefix = redis_prefix + "gcra:"
    store = RedisKeyValue(url=redis_url, prefix=prefix)
    raw = aioredis.Redis.from_url(redis_url)
    try:
        assert (await gcra(store, "limit:a", 1, 2))[0]
        assert await raw.exists(prefix + "limit:a")
        ttl_ms = await raw.pttl(prefix + "limit:a")
        assert 0 < ttl_ms <= 1000
    finally:
        await raw.aclose()
        await store.close()


async def test_the_stand_in_sweeps_expired_rate_limit_keys() -> None:
    store = MemoryKeyValue()
    for n in range(1100):
        await gcra(store, f"gcra:{n}", 1000, 1)  # each expires after 1 ms
        if n == 10:
            await asyncio.sleep(0.01)
    # The keys that had expired by the sweep at call 1024 are gone without being read.
    assert not any(key in store._data for key in ("gcra:0", "gcra:5", "gcra:10"))


async def test_a_hung_redis_costs_one_short_timeout_then_fails_fast(
    private_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    """SIGSTOP: the first command waits out its timeout; the ones after it, for the
    pause, fail at once; a command under a smaller budget waits only what is left;
    once Redis answers a ping again, commands work at once."""
    url, proc = private_redis
    store = RedisKeyValue(url, "hang:", timeout=0.3)
    try:
        await store.set("k", "v")
        os.kill(proc.pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await store.get("k")
        assert 0.25 < time.monotonic() - started < 0.6
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(redis.ConnectionError):
                await gcra(store, "limit", 10, 5)
        assert time.monotonic() - started < 0.05  # twenty refusals, no waiting
        assert not await store.ping()

        await asyncio.sleep(UNREACHABLE_PAUSE_SECONDS)
        with budget(0.1):
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await store.get("k")
            assert time.monotonic() - started < 0.2

        os.kill(proc.pid, signal.SIGCONT)
        assert await store.ping()
        assert await store.get("k") == b"v"  # the ping ended the pause
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        await store.close()


async def test_a_stopped_redis_is_refused_quickly() -> None:
    store = RedisKeyValue(f"redis://127.0.0.1:{free_port()}/0", "down:")
    started = time.monotonic()
    for _ in range(10):
        with pytest.raises((redis.ConnectionError, OSError)):
            await store.incr("n")
    assert time.monotonic() - started < 1.0
    await store.close()


async def test_a_restarted_redis_is_used_at_once(tmp_path: Path) -> None:
    """Every pooled connection is dead after a restart: the first command on each
    reconnects and is sent again at once, instead of failing (and pausing)."""
    url, proc = start_redis(tmp_path)
    store = RedisKeyValue(url, "restart:")
    try:
        # Several connections in the pool, each used once.
        await asyncio.gather(*(store.set(f"k{i}", "v") for i in range(5)))
        proc.terminate()
        proc.wait(10)
        url, proc = start_redis(tmp_path, port=int(url.rsplit(":", 1)[1].split("/")[0]))
        results = await asyncio.gather(*(store.get(f"k{i}") for i in range(5)))
        assert results == [None] * 5  # a new, empty Redis, and no error
        await store.set("after", "1")
        assert await store.get("after") == b"1"
    finally:
        proc.terminate()
        proc.wait(10)
        await store.close()


async def test_get_many_reads_several_keys_at_once(kv: KeyValue) -> None:
    prefix = f"many:{uuid.uuid4().hex}:"
    await kv.set(prefix + "a", "1")
    await kv.set(prefix + "c", b"3")
    assert await kv.get_many([prefix + "a", prefix + "b", prefix + "c"]) == [b"1", None, b"3"]
    assert await kv.get_many([]) == []
